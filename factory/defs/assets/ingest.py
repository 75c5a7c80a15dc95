"""A landed batch, its ingest gate and its drift report."""

from dataclasses import asdict

import dagster as dg

from factory.core.base.errors import UnreadableBatch
from factory.core.base.types import DriftReport, ValidationOutcome
from factory.core.flywheel.monitoring import Monitoring, monitor
from factory.core.gate.ingest import gate_landed, outcome_html
from factory.core.monitor.evidently_report import drift_table
from factory.defs.assets.reference import initial_champion
from factory.defs.assets.tables import LOOP, RETRY, figures, frame_metadata, table
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource, MLflowResource


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    kinds={"python", "pandas"},
    retry_policy=RETRY,
    description="A production batch as it landed under landing/: rows and content hash. Bytes that are no table "
    "the spec reads are recorded as unreadable (with the reason) and go on to the gate, which quarantines them.",
)
def landed_batch(context: dg.AssetExecutionContext, factory: FactoryResource) -> dg.MaterializeResult:
    batch_id, plane = context.partition_key, factory.plane
    manifest = plane.landing_manifest(batch_id)
    try:
        meta = {**frame_metadata(plane.read_landed(batch_id)), "readable": True}
    except UnreadableBatch as exc:
        context.log.warning(f"batch {batch_id}: {exc.code}: {exc}")
        meta = {"readable": False, "unreadable": f"{exc.code}: {exc}"}
    return dg.MaterializeResult(
        metadata={
            **meta,
            "bytes": manifest["bytes"],
            "sha256": manifest["sha256"],
            "source": dg.MetadataValue.path(plane.storage.uri(manifest["key"])),
        }
    )


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    deps=[landed_batch, initial_champion],
    dagster_type=ValidationOutcome,  # a generator body: its readers decode the stored value by this type
    kinds={"great_expectations", "pandas"},
    retry_policy=RETRY,
    output_required=False,  # a quarantined batch is not materialised: nothing downstream can read it
    check_specs=[
        dg.AssetCheckSpec(
            "ingest_gate",
            asset="validated_batch",
            blocking=True,
            description="The ingest gate (file, schema, Great Expectations suite from the reference, values, the "
            "batch's period): a broken batch is rejected, one whose values would poison training is held until an "
            "operator accepts it; either way it is quarantined and nothing downstream runs.",
        )
    ],
    description="The landed batch after the ingest gate, normalised. A rejected or held batch is copied to "
    "quarantine/ with its verdict, is not materialised, and nothing downstream runs.",
)
def validated_batch(context: dg.AssetExecutionContext, factory: FactoryResource):
    batch_id, plane = context.partition_key, factory.plane
    outcome = gate_landed(plane, batch_id)
    report = plane.write_report("validation", batch_id, "json", asdict(outcome))
    page = plane.write_report("validation", batch_id, "html", outcome_html(outcome, "Ingest gate"))
    meta = {
        "expectations": outcome.expectations,
        "failures": len(outcome.failures),
        "warnings": len(outcome.warnings),
        "report": dg.MetadataValue.path(report),
        "report_html": dg.MetadataValue.path(page),
    }
    if not outcome.passed:
        where = plane.quarantine(outcome)
        context.log.error(outcome.reason)
        yield dg.AssetCheckResult(
            check_name="ingest_gate",
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                **meta,
                "reason": outcome.reason,
                "codes": ", ".join(dict.fromkeys(outcome.codes)),
                "verdict": "held until accepted" if outcome.held else "rejected",
                "next": next_step(outcome),
                "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in outcome.failures)),
                "quarantined": dg.MetadataValue.path(where),
            },
        )
        return
    validated = plane.normalise(plane.read_landed(batch_id), batch_id)
    plane.write_validated(batch_id, validated)
    yield dg.Output(outcome, metadata={**meta, **frame_metadata(validated)})
    yield dg.AssetCheckResult(
        check_name="ingest_gate",
        passed=True,
        metadata={
            "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in outcome.warnings) or "none"),
            "codes": ", ".join(dict.fromkeys(outcome.warning_codes)) or "none",
        },
    )


def next_step(outcome: ValidationOutcome) -> str:
    """What an operator does about a quarantined batch."""
    b = outcome.batch_id
    if outcome.held:
        return (
            f"held out of training: `factory accept {b} --reason ...` then `factory run {b}`, or retract it and land "
            "a corrected file"
        )
    return f"rejected: `factory land {b} FILE` with a corrected file (it lands as the next revision), then factory run"


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    kinds={"evidently", "pandas"},
    retry_policy=RETRY,
    description="Drift of the batch against the reference profile (Evidently's tests, fast path), prediction drift "
    "and label-free performance estimate (CBPE) of the champion; Evidently DataDriftPreset HTML report "
    "on a sample.",
)
def drift_report(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    mlflow: MLflowResource,
    validated_batch: ValidationOutcome,
) -> dg.Output[DriftReport]:
    m = monitor(factory.plane, mlflow.registry.load("champion"), context.partition_key)
    return dg.Output(m.report, metadata=figures(_drift_metadata(m, factory.spec.drift.share_threshold)))


def _drift_metadata(m: Monitoring, share_threshold: float) -> dict:
    """Drift share and the drifted columns, prediction drift, the label-free estimate, the domain classifier."""
    report, estimate, scores = m.report, m.estimate, m.prediction_drift
    drifted = [
        dict(
            column=c.column,
            test=c.test,
            statistic=c.score,
            threshold=c.threshold,
            reference=c.reference_summary,
            current=c.current_summary,
        )
        for c in report.columns
        if c.drifted
    ]
    meta = {
        **frame_metadata(drift_table(report)),
        "drift_share": report.drift_share,
        "n_drifted": len(report.drifted_columns),
        "share_threshold": share_threshold,
        "drift_test_seconds": report.seconds,
        "prediction_drift_test": scores.test,
        "prediction_drift": scores.score,
        "prediction_drifted": scores.drifted,
        "estimated_auc": estimate.auc,
        "estimated_auc_low": estimate.auc_low,
        "estimated_auc_high": estimate.auc_high,
        "estimated_auc_drop": m.estimated_auc_drop,
        "estimated_f1": estimate.f1,
        "estimated_recall": estimate.recall,
        "realised_auc": estimate.realised_auc,
        "realised_f1": estimate.realised_f1,
        "realised_recall": estimate.realised_recall,
        "domain_classifier_auc": report.domain_auc,
        "domain_features": ", ".join(report.domain_features),
        "drifted_columns": table(drifted, ["column", "test", "statistic", "threshold", "reference", "current"]),
        "evidently_report": dg.MetadataValue.path(m.html_uri),
    }
    return {k: v for k, v in meta.items() if v is not None}
