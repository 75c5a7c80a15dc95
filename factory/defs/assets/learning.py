"""The challenger, its evaluation on real data, the baselines and the promotion."""

from dataclasses import asdict

import dagster as dg
import pandas as pd

from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.retraining import (
    Challenger,
    Evaluation,
    decide,
    evaluate,
    evaluation_table,
    promote_if_better,
    run_baselines,
    train_challenger,
)
from factory.defs.assets.tables import CHAMPION_POOL, LOOP, RETRY, figures, frame_metadata, table
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource, MLflowResource

SCORES = ["auc", "bs_auc", "f1", "bs_f1"]
AUC = ["auc", "auc_low", "auc_high"]
BACKTEST = [*AUC, "bs_f1", "bs_f1_low", "bs_f1_high"]  # evaluation's scalars, for plots


@dg.asset(
    group_name=LOOP,
    pool=CHAMPION_POOL,
    partitions_def=batches,
    kinds={"python", "mlflow"},
    retry_policy=RETRY,
    description="The challenger: every candidate recipe scored on the honest holdout (the newest labelled batch's "
    "later part), the best with or without the accepted synthetic rows (pooled evidence), refitted on every labelled "
    "row and registered in MLflow.",
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
    meta = {
        "version": result.version,
        "recipe": result.recipe,
        "recipe_reason": result.recipe_reason,
        "candidates": table(list(result.candidates), ["recipe", "auc", "bs_auc"]),
        "uses_synthetic": result.uses_synthetic,
        "synthetic": result.synthetic_reason,
        "holdout_rows": result.holdout_rows,
        "holdout_copies_dropped": result.copies_dropped,
        "mlflow_run": dg.MetadataValue.url(mlflow.run_url(result.run_id)),
    }
    return dg.Output(result, metadata=figures(meta))


@dg.asset(
    group_name=LOOP,
    pool=CHAMPION_POOL,
    partitions_def=batches,
    kinds={"pandas", "mlflow"},
    retry_policy=RETRY,
    dagster_type=Evaluation,  # a generator body: its readers decode the stored value by this type
    check_specs=[
        dg.AssetCheckSpec(
            "promotion_gate",
            asset="evaluation",
            blocking=True,
            description="The promotion gate on the honest holdout: the challenger is served unless its ROC AUC is "
            "below the champion's by more than the tolerance; when the judge's record says the gate does not "
            "predict the next batch, the best simple policy decides. WARN when the champion is kept; ERROR "
            "(blocking) when the holdout cannot judge.",
        )
    ],
    description="Champion vs challenger on real data only: the honest holdout judges the gate (paired bootstrap); "
    "the batch itself, once labelled, is the backtest of the served model.",
)
def evaluation(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    mlflow: MLflowResource,
    challenger: Challenger,
    blind_spots: SliceSearch,
):
    batch_id = context.partition_key
    result = evaluate(factory.plane, mlflow.registry, batch_id, challenger, list(blind_spots.blind_spots))
    verdict = decide(factory.plane, batch_id, challenger, result)
    yield dg.Output(result, metadata=figures(_evaluation_metadata(result, batch_id)))
    yield dg.AssetCheckResult(
        check_name="promotion_gate",
        passed=verdict.promoted,
        metadata={"reason": verdict.reason, "policy": verdict.policy},
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
    description="What a careful team gets without the factory, trained on the rows the challenger is served from and "
    "scored on the next batch: frozen first model, fixed recipes (all rows, recency weights, last 3, 6, 12 batches), "
    "SMOTE-NC, untargeted synthetic rows. Off unless the spec's baselines.enabled (the benchmark turns it on).",
)
def baselines(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    mlflow: MLflowResource,
    synthetic_validation: str,
    blind_spots: SliceSearch,
    challenger: Challenger,
) -> dg.Output[dict]:
    if not factory.spec.baselines.enabled:
        return dg.Output({}, metadata={"baselines": "off (spec baselines.enabled)"})
    offered = len(factory.plane.storage.read_parquet(synthetic_validation))
    spots = list(blind_spots.blind_spots)
    scores = run_baselines(
        factory.plane, mlflow.registry, context.partition_key, spots, offered, cycle_version=challenger.version
    )
    rows = [dict(s[kind], baseline=name, set=kind) for name, s in scores.items() for kind in ("backtest",) if s[kind]]
    shown = ["baseline", "set", *SCORES]
    meta = {**frame_metadata(pd.DataFrame(rows, columns=shown)), "baselines": table(rows, shown)}
    return dg.Output(scores, metadata=figures({**meta, "untargeted_rows": offered}))


@dg.asset(
    group_name=LOOP,
    pool=CHAMPION_POOL,
    partitions_def=batches,
    deps=[baselines],
    kinds={"mlflow"},
    retry_policy=RETRY,
    description="Moves the MLflow alias `champion` to the challenger when the verdict says so (the gate, or the "
    "policy the judge's record prefers); records the verdict and the move in the ledger.",
)
def promotion(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    mlflow: MLflowResource,
    challenger: Challenger,
    evaluation: Evaluation,
) -> dg.Output[dict]:
    registry = mlflow.registry
    verdict = promote_if_better(factory.plane, registry, context.partition_key, challenger, evaluation)
    context.log.info(verdict.reason)
    return dg.Output(
        {"promoted": verdict.promoted, "reason": verdict.reason, "policy": verdict.policy},
        metadata={
            "promoted": verdict.promoted,
            "policy": verdict.policy,
            "reason": verdict.reason,
            "champion_version": registry.version_of("champion"),
        },
    )
