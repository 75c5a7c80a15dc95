"""The flywheel report: one page plotting every cycle so far."""

import dagster as dg

from factory.core.base import report
from factory.core.base.types import DriftReport
from factory.core.flywheel.retraining import (
    Challenger,
    Evaluation,
)
from factory.core.learn.judge import evaluation_sets
from factory.defs.assets.tables import LOOP, RETRY, figures
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource, MLflowResource


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    kinds={"python", "plotly", "html"},
    retry_policy=RETRY,
    description="One HTML page per cycle (reports/flywheel/<batch>.html) plotting every cycle so far: overall and "
    "blind-spot ROC AUC of champion, challenger and baselines, drift share, synthetic share, promotions.",
)
def flywheel_report(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    mlflow: MLflowResource,
    drift_report: DriftReport,
    challenger: Challenger,
    evaluation: Evaluation,
    baselines: dict,
    promotion: dict,
) -> dg.MaterializeResult:
    batch_id, plane = context.partition_key, factory.plane
    scores = {
        "champion (holdout)": evaluation.gate_champion,
        "challenger (holdout)": evaluation.gate_challenger,
        "champion (backtest)": evaluation.backtest_champion,
        "challenger (backtest)": evaluation.backtest_challenger,
    }
    scores.update(
        {
            f"{name} ({'holdout' if kind == 'gate' else kind})": s.get(kind)
            for name, s in baselines.items()
            for kind in ("gate", "backtest")
        }
    )
    used = challenger.synthetic_rows if challenger.uses_synthetic else 0
    record = report.cycle_record(
        batch_id,
        drift_report.drift_share,
        scores,
        used,
        len(evaluation_sets(plane, batch_id).everything),
        promotion["promoted"],
        mlflow.registry.version_of("champion"),
    )
    plane.write_cycle(record)
    cycles = plane.cycles(upto=batch_id)
    html = plane.write_report("flywheel", batch_id, "html", report.flywheel_html(cycles, plane.spec.period))
    return dg.MaterializeResult(
        metadata=figures(
            {
                "report": dg.MetadataValue.path(html),
                "cycles": len(cycles),
                "drift_share": record["drift_share"],
                "synthetic_share": record["synthetic_share"],
                "promoted": record["promoted"],
                "champion_version": record["champion_version"],
                "promotions_so_far": sum(bool(c["promoted"]) for c in cycles),
            }
        )
    )
