"""Blind spots and the generation plan for them."""

import dagster as dg

from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.monitoring import discover
from factory.core.flywheel.synthesis import plan_synthesis
from factory.core.synth.plan import GenerationPlan
from factory.defs.assets.ingest import validated_batch
from factory.defs.assets.tables import LOOP, md_table
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    deps=[validated_batch],
    description="Readable slices of the newest labelled batch where the champion errs significantly more than overall.",
)
def blind_spots(context: dg.AssetExecutionContext, factory: FactoryResource) -> dg.Output[SliceSearch]:
    champion = factory.registry.load("champion")
    search = discover(factory.plane, champion, context.partition_key, factory.registry)
    rows = [
        dict(
            predicate=s.predicate,
            kind=s.kind,
            metric=s.metric,
            support=s.support,
            train_support=s.train_support,
            error=s.error_rate,
            error_ci=f"[{s.error_low:.2f}, {s.error_high:.2f}]",
            lift=s.lift,
            lift_shrunk=s.lift_shrunk,
            replication=s.replication,
            recurrence=s.recurrence,
            persistence=s.persistence,
            id=s.id,
        )
        for s in search.blind_spots
    ]
    return dg.Output(
        search,
        metadata={
            "blind_spots": md_table(rows),
            "count": len(rows),
            "slices_tested": search.tested,
            "significant": search.significant,
            "reason": search.reason or "found",
        },
    )


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    description="The generation plan: rows per blind spot (its deficit or excess errors, capped per slice and by "
    "the budget) and the label mix, with why each slice got its rows or none.",
)
def generation_plan(
    context: dg.AssetExecutionContext, factory: FactoryResource, blind_spots: SliceSearch
) -> dg.Output[GenerationPlan]:
    plan, uri = plan_synthesis(
        factory.plane, context.partition_key, list(blind_spots.blind_spots), context.run.run_id[:8]
    )
    rows = [{k: r[k] for k in ("predicate", "kind", "want", "rows", "positives", "why")} for r in plan.table()]
    return dg.Output(
        plan,
        metadata={
            "slices": md_table(rows),
            "rows": plan.rows,
            "budget": plan.budget,
            "slice_cap": plan.slice_cap,
            "real_rows": plan.real_rows,
            "planned": len(plan.requests),
            "skipped": len(plan.slices) - len(plan.requests),
            "reason": plan.reason or "planned",
            "path": dg.MetadataValue.path(uri),
        },
    )
