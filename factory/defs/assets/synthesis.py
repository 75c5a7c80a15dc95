"""Synthetic rows for the plan and their gate."""

import dagster as dg

from factory.core.base import report
from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.synthesis import SyntheticBatch, fidelity_headline, gate, synthesize
from factory.core.synth.plan import GenerationPlan
from factory.defs.assets.tables import LOOP, RETRY, figures, frame_metadata, table
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    kinds={"python", "pandas"},
    retry_policy=RETRY,
    description="Synthetic rows for exactly the planned slices (per-class Gaussian copula conditioned in latent "
    "space by default; spec.synthesis.generator), each with lineage columns.",
)
def synthetic_batch(
    context: dg.AssetExecutionContext, factory: FactoryResource, generation_plan: GenerationPlan
) -> dg.Output[SyntheticBatch]:
    result = synthesize(factory.plane, context.partition_key, generation_plan, context.run.run_id[:8])
    for failure in result.failures:
        context.log.warning(failure)
    candidates = result.generator.get("candidates", {})
    meta = {
        **frame_metadata(factory.plane.storage.read_parquet(result.key)),
        "requested": result.requested,
        "failures": len(result.failures),
        "generator": result.generator.get("generator", factory.plane.spec.synthesis.generator),
        **({"generator_choice": table([dict(generator=k, **v) for k, v in candidates.items()])} if candidates else {}),
        "path": dg.MetadataValue.path(factory.plane.storage.uri(result.key)),
    }
    return dg.Output(result, metadata=figures(meta))


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    dagster_type=str,  # the accepted rows' key; a generator body declares its value's type here
    kinds={"great_expectations", "pandas"},
    retry_policy=RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            "synthetic_gate",
            asset="synthetic_validation",
            blocking=True,
            description="Rows failing the suite, a business rule, their predicate, or copying a real row are "
            "dropped; a missing lineage column rejects the batch.",
        )
    ],
    description="The synthetic rows that passed the gate (Great Expectations suite, business rules, predicates, no "
    "copies of real rows).",
)
def synthetic_validation(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    synthetic_batch: SyntheticBatch,
    blind_spots: SliceSearch,
):
    gated = gate(factory.plane, context.partition_key, synthetic_batch, list(blind_spots.blind_spots))
    key, outcome = gated.accepted_key, gated.outcome
    storage = factory.plane.storage
    accepted = storage.read_parquet(key)
    per_spot = report.plan_vs_accepted(list(synthetic_batch.plan), storage.read_parquet(synthetic_batch.key), accepted)
    meta = {
        **frame_metadata(accepted),
        "accepted": outcome.rows - outcome.rows_dropped if outcome.passed else 0,
        "dropped": outcome.rows_dropped,
        "generated": outcome.rows,
        "plan_vs_accepted": table(per_spot, ["predicate", "planned", "generated", "accepted"]),
        **fidelity_headline(factory.plane, outcome),
        **({"fidelity_report": dg.MetadataValue.path(outcome.report_uri)} if outcome.report_uri else {}),
        "report": dg.MetadataValue.path(storage.uri(f"reports/synthetic_validation/{context.partition_key}.json")),
    }
    yield dg.Output(key, metadata=figures(meta))
    # a fidelity or privacy breach rejects the rows (the cycle goes on real-only): WARN; a broken structure: ERROR
    severity = dg.AssetCheckSeverity.ERROR if not gated.structural else dg.AssetCheckSeverity.WARN
    yield dg.AssetCheckResult(
        check_name="synthetic_gate",
        passed=outcome.passed,
        severity=severity,
        metadata={
            "dropped": outcome.rows_dropped,
            "reasons": dg.MetadataValue.md("\n".join(f"- {w}" for w in outcome.warnings + outcome.failures) or "none"),
        },
    )
