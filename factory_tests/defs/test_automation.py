"""Sensors, schedule and the code location, against a real Dagster instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from factory.defs.automation import drift_sensor, landing_sensor, regeneration_schedule
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
    # the daemon added `first` but died before its run: it is asked for again, under the same run key
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
        (first, f"ingest-{first}"),
        (second, f"ingest-{second}"),
    ]
    assert list(result.dynamic_partitions_requests[0].partition_keys) == [second]
    for batch_id in (first, second):  # a run exists for each (whatever became of it): never asked again
        create_run_for_test(
            instance, tags={"dagster/sensor_name": "landing_sensor", "dagster/run_key": f"ingest-{batch_id}"}
        )
    result = landing_sensor(dg.build_sensor_context(instance=instance, resources={"factory": factory}))
    assert result.run_requests == []


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


def test_a_schedule_per_period_that_skips_without_validated_batches(factory, instance):
    crons = {
        p: (s.name, s.cron_schedule)
        for p in ("hour", "day", "week", "month", "quarter", "rows")
        for s in [regeneration_schedule(p)]
    }
    assert crons["hour"] == ("hourly_regeneration", "15 * * * *")
    assert crons["week"] == ("weekly_regeneration", "0 6 * * 1")  # Mondays: ISO weeks start then
    assert crons["quarter"] == ("quarterly_regeneration", "0 6 2 1,4,7,10 *")
    assert crons["rows"] == crons["day"] == ("daily_regeneration", "0 6 * * *")  # no clock: look daily
    from factory.definitions import defs, spec_period

    assert spec_period(factory.spec_path) == "month"
    assert [s.name for s in defs.schedules] == ["monthly_regeneration"]  # the hotel spec's period
    context = dg.build_schedule_context(instance=instance, resources={"factory": factory})
    result = regeneration_schedule("month")(context)
    assert isinstance(result, dg.SkipReason)


def test_sensor_and_schedule_never_start_a_second_regeneration_for_a_batch(factory, instance, small_dataset):
    """The schedule started a regeneration for a batch; the drift sensor, seeing that batch drift, does not
    start another, and the schedule does not ask twice either."""
    batch_id = production_batches(small_dataset)[0]
    factory.plane.write_validated(batch_id, batch_frame(small_dataset, batch_id))
    context = dg.build_schedule_context(instance=instance, resources={"factory": factory})
    request = regeneration_schedule(factory.spec.period)(context)
    assert isinstance(request, dg.RunRequest) and request.partition_key == batch_id
    create_run_for_test(
        instance, job_name="regeneration_job", status=dg.DagsterRunStatus.STARTED, tags={"dagster/partition": batch_id}
    )
    _drift_event(instance, batch_id, factory.spec.drift.share_threshold + 0.1)
    result = _evaluate(factory, instance)
    assert result.run_requests == [] and "already regenerated" in result.skip_reason.skip_message
    assert isinstance(regeneration_schedule(factory.spec.period)(context), dg.SkipReason)


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
