"""Blind spots and the generation plan for them."""

import dagster as dg

from factory.core.discover.persistence import blind_spot_table
from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.monitoring import discover
from factory.core.flywheel.synthesis import plan_synthesis
from factory.core.synth.plan import GenerationPlan
from factory.defs.assets.ingest import validated_batch
from factory.defs.assets.tables import LOOP, RETRY, figures, frame_metadata, table
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource, MLflowResource
from factory.defs.runner import guard_regeneration

SPOT_COLUMNS = ["predicate", "kind", "metric", "support", "train_support", "error", "error_low", "error_high", "lift"]
SPOT_COLUMNS += ["lift_shrunk", "replication", "recurrence", "persistence", "id"]
PLAN_COLUMNS = ["predicate", "kind", "want", "rows", "positives", "why"]


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    deps=[validated_batch],
    kinds={"python", "pandas", "mlflow"},
    retry_policy=RETRY,
    description="Readable slices of the newest labelled batch (a small one pooled with earlier batches the champion "
    "was not trained on: pooled_batches) where the champion errs significantly more than overall.",
)
def blind_spots(
    context: dg.AssetExecutionContext, factory: FactoryResource, mlflow: MLflowResource
) -> dg.Output[SliceSearch]:
    guard_regeneration(context, factory.plane)  # the first step of a regeneration: one per batch at a time
    registry = mlflow.registry
    search = discover(factory.plane, registry.load("champion"), context.partition_key, registry)
    rows = [
        dict(
            predicate=s.predicate,
            kind=s.kind,
            metric=s.metric,
            support=s.support,
            train_support=s.train_support,
            error=s.error_rate,
            error_low=s.error_low,
            error_high=s.error_high,
            lift=s.lift,
            lift_shrunk=s.lift_shrunk,
            replication=s.replication,
            recurrence=s.recurrence,
            persistence=s.persistence,
            id=s.id,
        )
        for s in search.blind_spots
    ]
    meta = {
        **frame_metadata(blind_spot_table(search.blind_spots, context.partition_key)),
        "blind_spots": table(rows, SPOT_COLUMNS),
        "count": len(rows),
        "slices_tested": search.tested,
        "significant": search.significant,
        "reason": search.reason or "found",
        "searched_rows": search.rows,
        # a small newest batch is searched with earlier ones the champion was not trained on
        "pooled_batches": ", ".join(search.pooled) or "none",
    }
    return dg.Output(search, metadata=figures(meta))


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    kinds={"python"},
    retry_policy=RETRY,
    description="The generation plan: rows per blind spot (its deficit or excess errors, capped per slice and by "
    "the budget) and the label mix, with why each slice got its rows or none.",
)
def generation_plan(
    context: dg.AssetExecutionContext, factory: FactoryResource, blind_spots: SliceSearch
) -> dg.Output[GenerationPlan]:
    plan, uri = plan_synthesis(
        factory.plane, context.partition_key, list(blind_spots.blind_spots), context.run.run_id[:8]
    )
    meta = {
        "slices": table([{k: r[k] for k in PLAN_COLUMNS} for r in plan.table()], PLAN_COLUMNS),
        "rows": plan.rows,
        "budget": plan.budget,
        "slice_cap": plan.slice_cap,
        "real_rows": plan.real_rows,
        "planned": len(plan.requests),
        "skipped": len(plan.slices) - len(plan.requests),
        "reason": plan.reason or "planned",
        "path": dg.MetadataValue.path(uri),
    }
    return dg.Output(plan, metadata=figures(meta))
