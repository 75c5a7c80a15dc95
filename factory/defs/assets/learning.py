"""The challenger, its evaluation on real data, the baselines and the promotion."""

from dataclasses import asdict

import dagster as dg
import pandas as pd

from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.retraining import (
    Challenger,
    Evaluation,
    evaluate,
    evaluation_table,
    gate_decision,
    promote_if_better,
    run_baselines,
    train_challenger,
)
from factory.defs.assets.tables import LOOP, RETRY, figures, frame_metadata, table
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource, MLflowResource

SCORES = ["auc", "bs_auc", "f1", "bs_f1"]
AUC = ["auc", "auc_low", "auc_high"]
BACKTEST = [*AUC, "bs_f1", "bs_f1_low", "bs_f1_high"]  # evaluation's scalars, for plots


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    kinds={"python", "mlflow"},
    retry_policy=RETRY,
    description="The challenger, trained with and without the accepted synthetic rows (ablation); the better on the "
    "real holdout is registered in MLflow.",
)
def challenger(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    mlflow: MLflowResource,
    synthetic_validation: str,
    blind_spots: SliceSearch,
) -> dg.Output[Challenger]:
    result = train_challenger(
        factory.plane, mlflow.registry, context.partition_key, synthetic_validation, list(blind_spots.blind_spots)
    )
    rows = [
        dict(scores, model=name)
        for name, scores in (("real_only", result.real_only), ("with_synthetic", result.with_synthetic))
        if scores
    ]
    meta = {
        "version": result.version,
        "uses_synthetic": result.uses_synthetic,
        "ablation": table(rows, ["model", *SCORES]),
        "mlflow_run": dg.MetadataValue.url(mlflow.run_url(result.run_id)),
    }
    return dg.Output(result, metadata=figures(meta))


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    kinds={"pandas", "mlflow"},
    retry_policy=RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            "promotion_gate",
            asset="evaluation",
            blocking=True,
            description="The promotion gate on real held-out rows: overall ROC AUC within the tolerance and a "
            "blind-spot gain whose paired 95% interval is above zero. WARN when the champion is kept; "
            "ERROR (blocking) when the holdout cannot judge.",
        )
    ],
    description="Champion vs challenger on real data only: the holdout of the newest labelled batch judges the gate "
    "(paired bootstrap); the batch itself is the backtest.",
)
def evaluation(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    mlflow: MLflowResource,
    challenger: Challenger,
    blind_spots: SliceSearch,
):
    batch_id = context.partition_key
    result = evaluate(factory.plane, mlflow.registry, batch_id, challenger.version, list(blind_spots.blind_spots))
    promote, reason = gate_decision(factory.plane.spec, result)
    yield dg.Output(result, metadata=figures(_evaluation_metadata(result, batch_id)))
    yield dg.AssetCheckResult(
        check_name="promotion_gate",
        passed=promote,
        metadata={"reason": reason},
        severity=dg.AssetCheckSeverity.ERROR if result.comparison.auc_diff is None else dg.AssetCheckSeverity.WARN,
    )


def _evaluation_metadata(result: Evaluation, batch_id: str) -> dict:
    """The score table, the gate's paired differences, per blind spot scores and the backtest's headline."""
    models = [result.gate_champion, result.gate_challenger, result.backtest_champion, result.backtest_challenger]
    rows = [dict(asdict(m), set=s) for s, m in zip(["gate"] * 2 + ["backtest"] * 2, models) if m]
    meta = {
        **frame_metadata(evaluation_table(result, batch_id)),
        "scores": table(rows, ["set", "model", "rows", *AUC, "bs_auc", "pr_auc", "f1", "bs_f1", "brier"]),
        **{k: v for k, v in asdict(result.comparison).items() if v is not None},
    }
    per_spot = [
        {"blind_spot": a.predicate, "metric": a.metric, "rows": a.rows}
        | {f"{who}_{k}": getattr(m, k) for who, m in (("champion", a), ("challenger", b)) for k in AUC}
        for a, b in zip(result.gate_champion.spots, result.gate_challenger.spots)
    ]
    if per_spot:
        meta["per_blind_spot"] = table(per_spot)
    for name, m in (("champion", result.backtest_champion), ("challenger", result.backtest_challenger)):
        scores = asdict(m) if m is not None else {}
        meta |= {f"backtest_{name}_{k}": scores[k] for k in BACKTEST if scores.get(k) is not None}
    return meta


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    kinds={"pandas", "mlflow"},
    retry_policy=RETRY,
    description="What a careful team gets without the factory, on the same real rows: frozen first model, real-only "
    "retrain, recency-weighted retrain, SMOTE-NC, untargeted synthetic rows.",
)
def baselines(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    mlflow: MLflowResource,
    synthetic_validation: str,
    blind_spots: SliceSearch,
    challenger: Challenger,
) -> dg.Output[dict]:
    offered = len(factory.plane.storage.read_parquet(synthetic_validation))
    spots = list(blind_spots.blind_spots)
    scores = run_baselines(
        factory.plane, mlflow.registry, context.partition_key, spots, offered, cycle_version=challenger.version
    )
    rows = [
        dict(s[kind], baseline=name, set=kind) for name, s in scores.items() for kind in ("gate", "backtest") if s[kind]
    ]
    shown = ["baseline", "set", *SCORES]
    meta = {**frame_metadata(pd.DataFrame(rows, columns=shown)), "baselines": table(rows, shown)}
    return dg.Output(scores, metadata=figures({**meta, "untargeted_rows": offered}))


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    deps=[baselines],
    kinds={"mlflow"},
    retry_policy=RETRY,
    description="Moves the MLflow alias `champion` to the challenger only if it passed the promotion gate; records "
    "the decision in the ledger.",
)
def promotion(
    context: dg.AssetExecutionContext, factory: FactoryResource, mlflow: MLflowResource, evaluation: Evaluation
) -> dg.Output[dict]:
    registry = mlflow.registry
    promoted, reason = promote_if_better(factory.plane, registry, context.partition_key, evaluation)
    context.log.info(reason)
    return dg.Output(
        {"promoted": promoted, "reason": reason},
        metadata={"promoted": promoted, "reason": reason, "champion_version": registry.version_of("champion")},
    )
