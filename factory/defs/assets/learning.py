"""The challenger, its evaluation on real data, the baselines and the promotion."""

from dataclasses import asdict

import dagster as dg

from factory.core.base.types import plain
from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.retraining import (
    Challenger,
    Evaluation,
    evaluate,
    gate_decision,
    promote_if_better,
    run_baselines,
    train_challenger,
)
from factory.defs.assets.tables import LOOP, md_table
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    description="The challenger, trained with and without the accepted synthetic rows (ablation); the better on the "
    "real holdout is registered in MLflow.",
)
def challenger(
    context: dg.AssetExecutionContext, factory: FactoryResource, synthetic_validation: str, blind_spots: SliceSearch
) -> dg.Output[Challenger]:
    result = train_challenger(
        factory.plane, factory.registry, context.partition_key, synthetic_validation, list(blind_spots.blind_spots)
    )
    rows = [
        dict(model=name, **{k: scores.get(k) for k in ("auc", "bs_auc", "f1", "bs_f1")})
        for name, scores in (("real_only", result.real_only), ("with_synthetic", result.with_synthetic))
        if scores
    ]
    return dg.Output(
        result,
        metadata={
            "version": result.version,
            "uses_synthetic": result.uses_synthetic,
            "ablation": md_table(plain(rows)),
            "mlflow_run": dg.MetadataValue.url(factory.run_url(result.run_id)),
        },
    )


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    dagster_type=Evaluation,  # a generator body: its readers decode the stored value by this type
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
    challenger: Challenger,
    blind_spots: SliceSearch,
):
    result = evaluate(
        factory.plane, factory.registry, context.partition_key, challenger.version, list(blind_spots.blind_spots)
    )
    rows = [
        dict(
            set=s,
            **{
                k: asdict(m)[k]
                for k in ("model", "rows", "auc", "auc_low", "auc_high", "bs_auc", "pr_auc", "f1", "bs_f1", "brier")
            },
        )
        for s, m in (
            ("gate", result.gate_champion),
            ("gate", result.gate_challenger),
            ("backtest", result.backtest_champion),
            ("backtest", result.backtest_challenger),
        )
        if m
    ]
    per_spot = [
        dict(
            blind_spot=a.predicate,
            metric=a.metric,
            rows=a.rows,
            champion_auc=a.auc,
            challenger_auc=b.auc,
            challenger_auc_low=b.auc_low,
            challenger_auc_high=b.auc_high,
        )
        for a, b in zip(result.gate_champion.spots, result.gate_challenger.spots)
    ]
    meta = {
        "scores": md_table(plain(rows)),
        **{k: v for k, v in plain(asdict(result.comparison)).items() if v is not None},
    }
    if per_spot:
        meta["per_blind_spot"] = md_table(plain(per_spot))
    for name, m in (("champion", result.backtest_champion), ("challenger", result.backtest_challenger)):
        if m is not None:
            meta.update({f"backtest_{name}_auc": plain(m.auc) or 0.0, f"backtest_{name}_bs_f1": plain(m.bs_f1) or 0.0})
    promote, reason = gate_decision(factory.plane.spec, result)
    undefined = result.comparison.auc_diff is None
    yield dg.Output(result, metadata=meta)
    yield dg.AssetCheckResult(
        check_name="promotion_gate",
        passed=promote,
        metadata={"reason": reason},
        severity=dg.AssetCheckSeverity.ERROR if undefined else dg.AssetCheckSeverity.WARN,
    )


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    description="What a careful team gets without the factory, on the same real rows: frozen first model, real-only "
    "retrain, recency-weighted retrain, SMOTE-NC, untargeted synthetic rows.",
)
def baselines(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    synthetic_validation: str,
    blind_spots: SliceSearch,
    challenger: Challenger,
) -> dg.Output[dict]:
    offered = len(factory.plane.storage.read_parquet(synthetic_validation))
    scores = run_baselines(
        factory.plane,
        factory.registry,
        context.partition_key,
        list(blind_spots.blind_spots),
        offered,
        cycle_version=challenger.version,
    )
    rows = [
        dict(baseline=name, set=kind, **{k: (s[kind] or {}).get(k) for k in ("auc", "bs_auc", "f1", "bs_f1")})
        for name, s in scores.items()
        for kind in ("gate", "backtest")
        if s[kind]
    ]
    return dg.Output(scores, metadata={"baselines": md_table(plain(rows)), "untargeted_rows": offered})


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    deps=[baselines],
    description="Moves the MLflow alias `champion` to the challenger only if it passed the promotion gate; records "
    "the decision in the ledger.",
)
def promotion(context: dg.AssetExecutionContext, factory: FactoryResource, evaluation: Evaluation) -> dg.Output[dict]:
    promoted, reason = promote_if_better(factory.plane, factory.registry, context.partition_key, evaluation)
    context.log.info(reason)
    return dg.Output(
        {"promoted": promoted, "reason": reason},
        metadata={"promoted": promoted, "reason": reason, "champion_version": factory.registry.version_of("champion")},
    )
