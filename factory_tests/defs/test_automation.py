"""Sensors, schedule and the code location, against a real Dagster instance."""

from __future__ import annotations

import os
import subprocess
import sys
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
    out = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
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
    instance.report_runless_asset_event(dg.AssetMaterialization("drift_report", partition=batch_id, metadata={"drift_share": share}))


def test_drift_sensor_triggers_once_per_batch_above_threshold(factory, instance):
    threshold = factory.spec.drift.share_threshold
    _drift_event(instance, "2016-07", threshold + 0.1)
    result = drift_sensor(dg.build_sensor_context(instance=instance, resources={"factory": factory}))
    assert [r.partition_key for r in result.run_requests] == ["2016-07"]
    assert result.run_requests[0].run_key == "regenerate-2016-07"
    # the cursor moved past that event: evaluating again requests nothing
    again = drift_sensor(dg.build_sensor_context(instance=instance, resources={"factory": factory}, cursor=result.cursor))
    assert again.run_requests == [] and again.cursor == result.cursor
    _drift_event(instance, "2016-08", threshold / 2)
    below = drift_sensor(dg.build_sensor_context(instance=instance, resources={"factory": factory}, cursor=result.cursor))
    assert below.run_requests == [] and "2016-08" in below.skip_reason.skip_message


def test_daily_schedule_skips_without_validated_batches(factory, instance):
    context = dg.build_schedule_context(instance=instance, resources={"factory": factory})
    result = daily_regeneration(context)
    assert isinstance(result, dg.SkipReason)
