"""Sensors, schedule and the code location, against a real Dagster instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from factory.defs.automation import daily_regeneration, drift_sensor, landing_sensor
from factory.defs.partitions import batches
from factory_tests.defs.conftest import REPO, batch_frame, production_batches


def test_definitions_load():
    from factory.definitions import defs

    dg.Definitions.validate_loadable(defs)
    assert {j.name for j in defs.jobs} >= {"flywheel_job", "ingest_job", "regeneration_job", "bootstrap_job"}


def test_dagster_definitions_validate_cli(tmp_path):
    env = {**os.environ, "FACTORY_ROOT": str(tmp_path / "root"), "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_landing_sensor_adds_each_new_batch_once(factory, instance, small_dataset):
    first, second = production_batches(small_dataset)[:2]
    factory.plane.land_frame(first, batch_frame(small_dataset, first))
    context = dg.build_sensor_context(instance=instance, resources={"factory": factory})
    result = landing_sensor(context)
    assert [r.partition_key for r in result.run_requests] == [first]
    instance.add_dynamic_partitions(batches.name, [first])
    factory.plane.land_frame(second, batch_frame(small_dataset, second))
    result = landing_sensor(dg.build_sensor_context(instance=instance, resources={"factory": factory}))
    assert [r.partition_key for r in result.run_requests] == [second]
    assert result.run_requests[0].run_key == f"ingest-{second}"


def _drift_event(instance, batch_id: str, share: float) -> None:
    instance.add_dynamic_partitions(batches.name, [batch_id])
    instance.report_runless_asset_event(
        dg.AssetMaterialization("drift_report", partition=batch_id, metadata={"drift_share": share})
    )


def test_drift_sensor_triggers_once_per_batch_above_threshold(factory, instance):
    threshold = factory.spec.drift.share_threshold
    _drift_event(instance, "2016-07", threshold + 0.1)
    result = drift_sensor(dg.build_sensor_context(instance=instance, resources={"factory": factory}))
    assert [r.partition_key for r in result.run_requests] == ["2016-07"]
    assert result.run_requests[0].run_key == "regenerate-2016-07"
    # the cursor moved past that event: evaluating again requests nothing
    again = drift_sensor(
        dg.build_sensor_context(instance=instance, resources={"factory": factory}, cursor=result.cursor)
    )
    assert again.run_requests == [] and again.cursor == result.cursor
    _drift_event(instance, "2016-08", threshold / 2)
    below = drift_sensor(
        dg.build_sensor_context(instance=instance, resources={"factory": factory}, cursor=result.cursor)
    )
    assert below.run_requests == [] and "2016-08" in below.skip_reason.skip_message


def _evaluate(factory, instance, cursor=None):
    return drift_sensor(dg.build_sensor_context(instance=instance, resources={"factory": factory}, cursor=cursor))


def test_drift_sensor_cooldown_holds_a_batch_and_releases_the_newest(factory, instance):
    threshold = factory.spec.drift.share_threshold
    _drift_event(instance, "2016-07", threshold + 0.1)
    first = _evaluate(factory, instance)
    assert [r.run_key for r in first.run_requests] == ["regenerate-2016-07"]
    # a second drifted batch inside the cooldown waits instead of starting a run
    _drift_event(instance, "2016-08", threshold + 0.2)
    held = _evaluate(factory, instance, first.cursor)
    assert held.run_requests == [] and "cooldown" in held.skip_reason.skip_message
    assert json.loads(held.cursor)["pending"] == "2016-08"
    # once the cooldown has passed (the trigger time moved back), the waiting batch starts, once
    state = json.loads(held.cursor)
    state["fired"] = [t - factory.spec.drift.cooldown_hours * 3600 - 1 for t in state["fired"]]
    released = _evaluate(factory, instance, json.dumps(state))
    assert [r.run_key for r in released.run_requests] == ["regenerate-2016-08"]
    assert json.loads(released.cursor)["pending"] is None
    assert _evaluate(factory, instance, released.cursor).run_requests == []  # idempotent


def test_drift_sensor_caps_regenerations_per_period(factory, instance):
    drift = factory.spec.drift
    _drift_event(instance, "2016-09", drift.share_threshold + 0.1)
    hours_ago = [time.time() - 3600 * (drift.cooldown_hours + 1 + i) for i in range(drift.max_regenerations)]
    capped = _evaluate(factory, instance, json.dumps(dict(after=None, fired=hours_ago, pending=None)))
    assert capped.run_requests == [] and "cap of" in capped.skip_reason.skip_message
    # triggers older than the period no longer count against the cap
    old = [t - drift.period_hours * 3600 for t in hours_ago]
    freed = _evaluate(factory, instance, json.dumps(dict(after=None, fired=old, pending=None)))
    assert [r.partition_key for r in freed.run_requests] == ["2016-09"]


def test_drift_sensor_triggers_on_estimated_performance_drop(factory, instance):
    instance.add_dynamic_partitions(batches.name, ["2016-10"])
    drop = factory.spec.drift.performance_tolerance + 0.01
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "drift_report", partition="2016-10", metadata={"drift_share": 0.0, "estimated_auc_drop": drop}
        )
    )
    assert [r.partition_key for r in _evaluate(factory, instance).run_requests] == ["2016-10"]


def test_daily_schedule_skips_without_validated_batches(factory, instance):
    context = dg.build_schedule_context(instance=instance, resources={"factory": factory})
    result = daily_regeneration(context)
    assert isinstance(result, dg.SkipReason)


def test_warehouse_sensor_rebuilds_after_each_promotion_once(instance):
    from factory.defs.automation import warehouse_sensor

    def requests(context):
        return [r for r in warehouse_sensor(context) if isinstance(r, dg.RunRequest)]

    assert requests(dg.build_sensor_context(instance=instance)) == [], "no cycle finished yet"
    instance.add_dynamic_partitions(batches.name, ["2016-07", "2016-08"])
    for batch_id in ("2016-07", "2016-08"):  # two cycles finish between two ticks: one rebuild
        instance.report_runless_asset_event(dg.AssetMaterialization("promotion", partition=batch_id))
    context = dg.build_sensor_context(instance=instance)
    (request,) = requests(context)
    assert request.tags["factory/batch"] == "2016-08"
    assert warehouse_sensor.job_name == "warehouse_job"
    assert requests(dg.build_sensor_context(instance=instance, cursor=context.cursor)) == [], "nothing new"
