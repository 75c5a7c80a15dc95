"""The flywheel report: one page plotting every cycle so far."""

import dagster as dg

from factory.core.base import report
from factory.core.base.types import DriftReport
from factory.core.flywheel.retraining import (
    Challenger,
    Evaluation,
    synthetic_evidence,
)
from factory.core.learn.judge import evaluation_sets
from factory.defs.assets.tables import LOOP, RETRY, figures, table
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
    stats = context.instance.get_run_step_stats(context.run.run_id)
    steps = {s.step_key: s.end_time - s.start_time for s in stats if s.start_time and s.end_time}
    effect = synthetic_evidence(plane, batch_id)
    extra = {
        "recipe": challenger.recipe,
        "policy": promotion.get("policy", ""),
        "holdout_copies_dropped": challenger.copies_dropped,
        "synthetic_effect": effect.mean,
        "synthetic_effect_low": effect.low,
        "synthetic_effect_high": effect.high,
        "loop_seconds": sum(v for k, v in steps.items() if k != "baselines"),
        "baselines_seconds": steps.get("baselines"),
    }
    record = report.cycle_record(
        batch_id,
        drift_report.drift_share,
        scores,
        used,
        len(evaluation_sets(plane, batch_id).everything),
        promotion["promoted"],
        mlflow.registry.version_of("champion"),
        extra,
    )
    plane.write_cycle(record)
    cycles = plane.cycles(upto=batch_id)
    html = plane.write_report("flywheel", batch_id, "html", report.flywheel_html(cycles))
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
                **{k: v for k, v in extra.items() if v is not None},
                "stage_seconds": table([{"step": k, "seconds": v} for k, v in steps.items()], ["step", "seconds"]),
            }
        )
    )
