"""Recovery, for real: `factory run` on a bad batch, a retraction and a corrected revision, a killed run reaped."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys

import dagster as dg
import pytest

from factory.core.base.dataset import BATCH
from factory.core.base.errors import BatchIdError
from factory.defs.assets import ingest_assets, reference_assets, regeneration_assets, report_assets
from factory.defs.jobs import ingest_job
from factory.defs.runner import reap_dead_runs, resolve, run_batch
from factory_tests.defs.conftest import batch_frame, production_batches

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _ingest(resources) -> dg.JobDefinition:
    assets = reference_assets + ingest_assets + regeneration_assets + report_assets
    return dg.Definitions(assets=assets, jobs=[ingest_job], resources=resources).resolve_job_def("ingest_job")


def _csv(frame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


@pytest.mark.slow  # it bootstraps a champion through Dagster
def test_a_gzip_file_named_csv_is_quarantined_then_a_corrected_revision_passes(
    bootstrapped, resources, instance, small_dataset
):
    plane, job = bootstrapped.plane, _ingest(resources)
    batch_id = production_batches(small_dataset)[0]
    clean = _csv(batch_frame(small_dataset, batch_id))
    bad = gzip.compress(clean)
    landing = plane.land(batch_id, bad, "csv")
    assert landing.created and landing.unreadable.startswith("wrong_compression")
    run = run_batch(instance, job, plane, batch_id, QUIET)
    assert not run.success and run.gate_passed is False
    assert run.summary.startswith(f"batch {batch_id} quarantined (rejected): ") and "\n" not in run.summary
    assert "wrong_compression" in run.summary or "gzip" in run.summary
    assert plane.storage.read_bytes(f"quarantine/{batch_id}/{batch_id}.csv") == bad  # byte for byte
    assert batch_id not in plane.validated_batches()
    # the corrected file lands under the same period as its next revision, and passes
    fixed = plane.land(batch_id, clean, "csv")
    assert fixed.batch_id == f"{batch_id}.r2" and resolve(plane, batch_id) == fixed.batch_id
    run = run_batch(instance, job, plane, resolve(plane, batch_id), QUIET)
    assert run.success and run.gate_passed, run.summary
    assert plane.validated_batches() == [fixed.batch_id]


def test_a_retracted_batch_leaves_every_training_window_and_comes_back(factory, small_dataset):
    plane = factory.plane
    plane.snapshot_reference()
    first, second = production_batches(small_dataset)[:2]
    for batch_id in (first, second):
        plane.land_frame(batch_id, batch_frame(small_dataset, batch_id))
        plane.write_validated(batch_id, plane.normalise(plane.read_landed(batch_id), batch_id))
    window, _ = plane.labelled_window(second)
    assert first in set(window[BATCH])
    plane.retract(first, "wrong export")
    assert plane.validated_batches() == [second]
    window, _ = plane.labelled_window(second)
    assert first not in set(window[BATCH])
    assert plane.landed_bytes(first)[0] == plane.storage.read_bytes(plane.landed_key(first))  # bytes kept
    # different bytes under the retracted period land as a revision; the original is refused no more
    corrected = batch_frame(small_dataset, first).head(-1)
    assert plane.land_frame(first, corrected).batch_id == f"{first}.r2"
    record = plane.retract(first, "it was right after all", undo=True)
    assert [h["action"] for h in record["history"]] == ["retract", "restore"]
    assert first in plane.validated_batches()


@pytest.mark.parametrize("bad_id", ["../probe-escape", "October 2016!", "2016-13", "2016-10.r1", "2016-10/x"])
def test_a_batch_id_outside_the_periods_format_is_refused(factory, bad_id):
    with pytest.raises(BatchIdError, match="2016-10"):
        factory.plane.land(bad_id, b"a,b\n1,2\n", "csv")
    assert factory.plane.landed_batches() == []


def test_a_killed_runs_process_is_reaped_and_the_run_ends_failed(instance):
    from dagster._core.events import EngineEventData
    from dagster._core.test_utils import create_run_for_test

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    run = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED)
    instance.report_engine_event("started", run, EngineEventData.in_process(child.pid))
    live = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED)
    instance.report_engine_event("started", live, EngineEventData.in_process(child.pid))
    assert reap_dead_runs(instance) == []  # its process still runs: left alone
    child.kill()
    child.wait()
    assert sorted(reap_dead_runs(instance)) == sorted([run.run_id, live.run_id])
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert reap_dead_runs(instance) == []
