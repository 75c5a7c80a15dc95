"""One landed batch run by hand (`factory run`): the ingest gate, then the cycle when it passes.

A run whose process died (SIGKILL, an out-of-memory kill, a lost machine) would stay
STARTED in Dagster's instance forever; before a batch runs again, every in-progress run
whose process is gone from this machine is marked failed with why, so every run reaches
a final state. The cycle itself is idempotent: a re-run reuses what the killed run wrote.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from factory.core.base.batches import period_of
from factory.core.base.plane import DataPlane
from factory.defs.partitions import batches

IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
WAITING = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, *IN_PROGRESS]
REGENERATING = ("regeneration_job", "flywheel_job")  # the jobs that train and promote for a batch


@dataclass(frozen=True)
class BatchRun:
    """What `factory run` reports: the gate's verdict, then how the cycle ended."""

    batch_id: str
    run_id: str
    success: bool
    gate_passed: bool | None  # None: the gate did not run
    held: bool
    reason: str  # the gate's one-line reason, or the failed step's error
    promoted: bool | None
    codes: str = ""  # the gate's reason codes: its failures', or its warnings' when it passed

    @property
    def summary(self) -> str:
        """One line: the gate's verdict and reason, or the failed step, or how the cycle ended."""
        if self.gate_passed is False:
            verdict = "held until accepted" if self.held else "rejected"
            return (
                f"batch {self.batch_id} quarantined ({verdict}): {self.reason.removeprefix(f'batch {self.batch_id}: ')}"
            )
        if not self.success:
            return f"batch {self.batch_id}: run {self.run_id} failed: {self.reason}"
        done = {None: "", True: "; challenger promoted", False: "; champion kept"}[self.promoted]
        return f"batch {self.batch_id}: passed the ingest gate{done} (run {self.run_id})"


def resolve(plane: DataPlane, batch_id: str) -> str:
    """A bare period means its newest landed revision (`2016-10` -> `2016-10.r2`)."""
    if batch_id != period_of(batch_id):
        return batch_id
    revisions = plane.revisions(batch_id)
    return revisions[-1] if revisions else batch_id


def run_batch(instance: dg.DagsterInstance, job, plane: DataPlane, batch_id: str, run_config: dict) -> BatchRun:
    """Reap dead runs, then run `job` for the batch's partition in this process."""
    plane.landed_bytes(batch_id)  # refuses an unchecked id, or a batch that never landed, before Dagster sees it
    reap_dead_runs(instance)
    instance.add_dynamic_partitions(batches.name, [batch_id])
    result = job.execute_in_process(
        instance=instance,
        partition_key=batch_id,
        raise_on_error=False,
        tags={"factory/trigger": "cli"},
        run_config=run_config,
    )
    gate = {e.check_name: e for e in result.get_asset_check_evaluations()}.get("ingest_gate")
    meta = gate.metadata if gate is not None else {}
    reason = meta["reason"].value if "reason" in meta else ""
    if not result.success and not reason:
        failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        error = failures[-1].step_failure_data.error if failures else None
        step = failures[-1].step_key if failures else "?"
        reason = f"step {step} failed: {error.message.strip().splitlines()[-1] if error else 'see the run log'}"
    try:
        promoted = bool(result.output_for_node("promotion")["promoted"])
    except Exception:  # the cycle did not reach the promotion
        promoted = None
    return BatchRun(
        batch_id=batch_id,
        run_id=result.run_id,
        success=result.success,
        gate_passed=None if gate is None else gate.passed,
        held="verdict" in meta and meta["verdict"].value.startswith("held"),
        reason=reason,
        promoted=promoted,
        codes=meta["codes"].value if "codes" in meta else "",
    )


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every in-progress run whose process (the pid Dagster logged when it
    started) no longer runs on this machine. Returns the run ids marked."""
    reaped = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        pid, since = _run_process(instance, run.run_id)
        if pid is None or _alive(pid, since):
            continue
        instance.report_run_failed(
            run, f"the run's process (pid {pid}) is gone (killed or crashed): marked failed; run it again"
        )
        reaped.append(run.run_id)
    return reaped


def _run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int | None, float]:
    """The pid of the newest process that executed the run's steps, and when it said so."""
    for entry in reversed(instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = (data.metadata or {}).get("pid") if data else None
        if pid is not None:
            return int(pid.value if hasattr(pid, "value") else pid), entry.timestamp
    return None, 0.0


def _alive(pid: int, since: float) -> bool:
    """Whether `pid` runs and is the process that started before `since` (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if "btime" in line)
    except (OSError, StopIteration, IndexError):
        return True  # no /proc: trust the signal
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return fields[0] != "Z" and started <= since + 2 and started <= time.time()


def guard_regeneration(context: dg.AssetExecutionContext, plane: DataPlane) -> None:
    """Stop a regeneration that must not run: the batch has not passed the gate (or was
    retracted), or an older run is regenerating the same batch (the sensor and the schedule
    fired at once). Exactly one run trains and promotes for a batch; the other fails, saying
    which run won, and is not retried."""
    batch_id = context.partition_key
    if batch_id not in plane.validated_batches():
        raise dg.Failure(
            f"batch {batch_id} has not passed the ingest gate (or was retracted): nothing to regenerate",
            allow_retries=False,
        )
    if other := older_regeneration(context.instance, context.run.run_id, batch_id):
        raise dg.Failure(
            f"batch {batch_id} is already being regenerated by run {other}: one regeneration per batch at a time",
            allow_retries=False,
        )


def older_regeneration(instance: dg.DagsterInstance, run_id: str, batch_id: str) -> str | None:
    """An unfinished run, created before `run_id`, that regenerates the same batch (runs
    whose process died are marked failed first: they hold nothing)."""
    reap_dead_runs(instance)
    records = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": batch_id}, statuses=WAITING))
    mine = instance.get_run_record_by_id(run_id)
    for record in sorted(records, key=lambda r: (r.create_timestamp, r.dagster_run.run_id)):
        run = record.dagster_run
        if (
            run.run_id == run_id
            or mine is None
            or (record.create_timestamp, run.run_id)
            > (
                mine.create_timestamp,
                run_id,
            )
        ):
            continue
        selection = run.asset_selection or set()
        if run.job_name in REGENERATING or dg.AssetKey("blind_spots") in selection:
            return run.run_id
    return None
