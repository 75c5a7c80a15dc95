"""Sensors and the schedule: what turns the loop without a person.

- landing_sensor: a new file under landing/ becomes a partition and an ingest run (one per
  batch: the run key; a batch the daemon added but never ran, being killed between the two, is
  asked for again).
- drift_sensor: a drift report whose drift share passes the spec's threshold (or whose
  estimated ROC AUC dropped beyond the tolerance) starts the regeneration job for that
  batch (once per batch: the run key), with a cooldown and a cap per period; never for a batch
  already regenerated or being regenerated (by the schedule, say).
- <period>_regeneration (hourly, daily, weekly, monthly, quarterly: the spec's batch period):
  once per period, regenerate for the newest validated batch that has not been regenerated
  yet, so the loop turns even when drift stays low.
- warehouse_sensor: after each promotion decision (every finished cycle), rebuild the
  dbt warehouse, so a deployed warehouse is never older than the last cycle.
"""

import json
import time

import dagster as dg

from factory.core.base.rounding import rounded
from factory.defs.assets.ingest import drift_report, landed_batch
from factory.defs.assets.learning import promotion
from factory.defs.jobs import ingest_job, regeneration_job
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource
from factory.defs.runner import REGENERATING, WAITING
from factory.defs.warehouse import warehouse_job


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    description="Watches landing/ under the root; each new batch becomes a partition and an ingest run (run key = "
    "batch id, so never twice).",
)
def landing_sensor(context: dg.SensorEvaluationContext, factory: FactoryResource) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(batches.name))
    landed = factory.plane.landed_batches()
    new = [b for b in landed if b not in known]
    # a batch whose partition exists but was never read (the daemon died between the two) is asked for again:
    # the run key keeps it to one run
    read = context.instance.get_materialized_partitions(landed_batch.key)
    runs = context.instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/sensor_name": landing_sensor.name}))
    asked = {r.dagster_run.tags.get("dagster/run_key") for r in runs}
    waiting = [b for b in landed if b not in read and f"ingest-{b}" not in asked]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"ingest-{b}", partition_key=b) for b in waiting],
        dynamic_partitions_requests=[batches.build_add_request(new)] if new else [],
    )


@dg.sensor(
    job=regeneration_job,
    minimum_interval_seconds=60,
    description="Starts regeneration for the newest batch whose drift share passes the spec's share_threshold or whose "
    "estimated ROC AUC dropped more than performance_tolerance, at most max_regenerations per period_hours and "
    "never within cooldown_hours of the previous one (a blocked batch waits, newest first). The cursor holds "
    "the last drift materialisation seen and the trigger times; the run key is the batch, so a batch never triggers "
    "twice.",
)
def drift_sensor(context: dg.SensorEvaluationContext, factory: FactoryResource) -> dg.SensorResult:
    state = drift_cursor(context.cursor)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=drift_report.key, after_storage_id=state["after"]), limit=100, ascending=True
    ).records
    settings = factory.spec.drift
    triggered, skipped = [state["pending"]] if state["pending"] else [], []
    done = regenerated(context.instance, factory)
    for record in records:
        meta = record.asset_materialization.metadata
        share = float(meta["drift_share"].value or 0.0) if "drift_share" in meta else 0.0
        drop = float(meta["estimated_auc_drop"].value or 0.0) if "estimated_auc_drop" in meta else 0.0
        batch_id = record.asset_materialization.partition
        if batch_id in done:
            skipped.append(f"{batch_id} (already regenerated or regenerating)")
        elif share >= settings.share_threshold or drop > settings.performance_tolerance:
            triggered.append(batch_id)
        else:
            skipped.append(f"{batch_id} ({rounded(share)})")
    now = time.time()
    fired = [t for t in state["fired"] if now - t < settings.period_hours * 3600]
    newest = max(triggered) if triggered else None
    blocked = _blocked(fired, now, settings) if newest else None
    requests = (
        []
        if newest is None or blocked
        else [dg.RunRequest(run_key=f"regenerate-{newest}", partition_key=newest, tags={"factory/trigger": "drift"})]
    )
    cursor = dict(
        after=records[-1].storage_id if records else state["after"],
        fired=fired + ([now] if requests else []),
        pending=newest if blocked else None,
    )
    reason = (
        None
        if requests
        else dg.SkipReason(
            f"{newest} waits: {blocked}"
            if blocked
            else f"no batch above drift share {settings.share_threshold}; below: {', '.join(skipped) or 'none new'}"
        )
    )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor), skip_reason=reason)


def regenerated(instance: dg.DagsterInstance, factory: FactoryResource) -> set[str]:
    """Batches whose promotion ran, or whose regeneration is queued or under way: the sensor
    and the schedule never start a second one for them."""
    done = set(instance.get_materialized_partitions(promotion.key))
    runs = instance.get_run_records(filters=dg.RunsFilter(statuses=WAITING))
    return done | {r.dagster_run.tags.get("dagster/partition") for r in runs if r.dagster_run.job_name in REGENERATING}


def drift_cursor(cursor: str | None) -> dict:
    """The drift sensor's state; an older plain storage-id cursor is still understood."""
    if not cursor:
        return dict(after=None, fired=[], pending=None)
    if cursor.isdigit():
        return dict(after=int(cursor), fired=[], pending=None)
    return json.loads(cursor)


def _blocked(fired: list[float], now: float, settings) -> str | None:
    """Why a drift-triggered regeneration may not start now (cooldown, cap), or None."""
    if fired and now - max(fired) < settings.cooldown_hours * 3600:
        return f"cooldown of {settings.cooldown_hours:g} h since the last drift-triggered regeneration"
    if len(fired) >= settings.max_regenerations:
        return (
            f"cap of {settings.max_regenerations} drift-triggered regenerations per {settings.period_hours:g} h reached"
        )
    return None


# the schedule per batch period: (name, cron), shortly after a period starts, when its batch can have landed
SCHEDULES = {
    "hour": ("hourly", "15 * * * *"),
    "day": ("daily", "0 6 * * *"),
    "week": ("weekly", "0 6 * * 1"),
    "month": ("monthly", "0 6 2 * *"),
    "quarter": ("quarterly", "0 6 2 1,4,7,10 *"),
    "rows": ("daily", "0 6 * * *"),  # no clock: batches come when they come, so look once a day
}


def regeneration_schedule(period: str) -> dg.ScheduleDefinition:
    """The schedule for the spec's batch period: once per period, regenerate for the newest
    validated batch not yet regenerated, so the loop turns even when drift stays low."""
    name, cron = SCHEDULES[period]

    @dg.schedule(
        name=f"{name}_regeneration",
        cron_schedule=cron,
        job=regeneration_job,
        description=f"Once per batch period ({period}, cron '{cron}'): regenerate for the newest validated batch not "
        "yet regenerated (run key = batch id).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext, factory: FactoryResource):
        validated = factory.plane.validated_batches()
        if not validated:
            return dg.SkipReason("no validated batch yet")
        newest = validated[-1]
        if newest in regenerated(context.instance, factory):
            return dg.SkipReason(f"batch {newest} already regenerated (or a run regenerating it is under way)")
        return dg.RunRequest(run_key=f"scheduled-{newest}", partition_key=newest, tags={"factory/trigger": "schedule"})

    return _schedule


@dg.asset_sensor(
    asset_key=promotion.key,
    job=warehouse_job,
    minimum_interval_seconds=30,
    description="Rebuilds the dbt warehouse after each promotion decision, i.e. after every finished cycle (several "
    "between two ticks make one rebuild), so its marts are never older than the last cycle. The cursor is the last "
    "promotion materialisation seen.",
)
def warehouse_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry) -> dg.RunRequest:
    batch_id = asset_event.asset_materialization.partition
    return dg.RunRequest(tags={"factory/trigger": "promotion", "factory/batch": batch_id or ""})
