"""Sensors and the schedule: what turns the loop without a person.

- landing_sensor: a new file under landing/ becomes a partition and an ingest run.
- drift_sensor: a drift report whose drift share passes the spec's threshold starts
  the regeneration job for that batch (once per batch: the run key).
- daily_regeneration: once a day, regenerate for the newest validated batch that has
  not been regenerated yet, so the loop turns even when drift stays low.
"""


import dagster as dg

from factory.defs.assets import drift_report, promotion
from factory.defs.jobs import ingest_job, regeneration_job
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource


@dg.sensor(job=ingest_job, minimum_interval_seconds=30,
           description="Watches landing/ under the root; each new batch becomes a partition and an ingest run (run key = batch id, so never twice).")
def landing_sensor(context: dg.SensorEvaluationContext, factory: FactoryResource) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(batches.name))
    new = [b for b in factory.plane.landed_batches() if b not in known]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"ingest-{b}", partition_key=b) for b in new],
        dynamic_partitions_requests=[batches.build_add_request(new)] if new else [],
    )


@dg.sensor(job=regeneration_job, minimum_interval_seconds=60,
           description="Starts regeneration for a batch whose drift share passes the spec's share_threshold. The cursor is the storage id of the last drift materialisation seen; the run key is the batch, so a batch triggers at most once.")
def drift_sensor(context: dg.SensorEvaluationContext, factory: FactoryResource) -> dg.SensorResult:
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=drift_report.key, after_storage_id=after), limit=100, ascending=True).records
    threshold = factory.spec.drift.share_threshold
    requests, skipped = [], []
    for record in records:
        materialization = record.asset_materialization
        share = materialization.metadata.get("drift_share")
        share = float(share.value) if share is not None else 0.0
        batch_id = materialization.partition
        if share >= threshold:
            requests.append(dg.RunRequest(run_key=f"regenerate-{batch_id}", partition_key=batch_id,
                                          tags={"factory/trigger": "drift", "factory/drift_share": f"{share:.3f}"}))
        else:
            skipped.append(f"{batch_id} ({share:.2f})")
    cursor = str(records[-1].storage_id) if records else context.cursor
    skip = None if requests else dg.SkipReason(f"no batch above drift share {threshold}; below: {', '.join(skipped) or 'none new'}")
    return dg.SensorResult(run_requests=requests, cursor=cursor, skip_reason=skip)


@dg.schedule(cron_schedule="0 6 * * *", job=regeneration_job,
             description="Daily at 06:00: regenerate for the newest validated batch not yet regenerated (run key = batch id).")
def daily_regeneration(context: dg.ScheduleEvaluationContext, factory: FactoryResource):
    validated = factory.plane.validated_batches()
    if not validated:
        return dg.SkipReason("no validated batch yet")
    newest = validated[-1]
    done = context.instance.get_latest_materialization_event(promotion.key)
    if done is not None and done.asset_materialization.partition == newest:
        return dg.SkipReason(f"batch {newest} already regenerated")
    return dg.RunRequest(run_key=f"scheduled-{newest}", partition_key=newest, tags={"factory/trigger": "schedule"})
