"""The challenger, its evaluation on real data, the baselines and the promotion."""

from dataclasses import asdict

import dagster as dg

from factory.core.base.types import plain
from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.retraining import (
    Challenger,
    Evaluation,
    decide,
    evaluate,
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
    description="The challenger: every candidate recipe scored on the honest holdout (the newest labelled batch's "
    "later part), the best with or without the accepted synthetic rows (pooled evidence), refitted on every labelled "
    "row and registered in MLflow.",
)
def challenger(
    context: dg.AssetExecutionContext, factory: FactoryResource, synthetic_validation: str, blind_spots: SliceSearch
) -> dg.Output[Challenger]:
    result = train_challenger(
        factory.plane, factory.registry, context.partition_key, synthetic_validation, list(blind_spots.blind_spots)
    )
    return dg.Output(
        result,
        metadata={
            "version": result.version,
            "recipe": result.recipe,
            "candidates": md_table(plain(list(result.candidates))),
            "uses_synthetic": result.uses_synthetic,
            "synthetic": result.synthetic_reason,
            "holdout_rows": result.holdout_rows,
            "holdout_copies_dropped": result.copies_dropped,
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
    challenger: Challenger,
    blind_spots: SliceSearch,
):
    result = evaluate(factory.plane, factory.registry, context.partition_key, challenger, list(blind_spots.blind_spots))
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
    verdict = decide(factory.plane, context.partition_key, challenger, result)
    undefined = result.comparison.auc_diff is None
    yield dg.Output(result, metadata=meta)
    yield dg.AssetCheckResult(
        check_name="promotion_gate",
        passed=verdict.promoted,
        metadata={"reason": verdict.reason, "policy": verdict.policy},
        severity=dg.AssetCheckSeverity.ERROR if undefined else dg.AssetCheckSeverity.WARN,
    )


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    description="What a careful team gets without the factory, trained on the rows the challenger is served from and "
    "scored on the next batch: frozen first model, fixed recipes (all rows, recency weights, last 3, 6, 12 batches), "
    "SMOTE-NC, untargeted synthetic rows. Off unless the spec's baselines.enabled (the benchmark turns it on).",
)
def baselines(
    context: dg.AssetExecutionContext,
    factory: FactoryResource,
    synthetic_validation: str,
    blind_spots: SliceSearch,
    challenger: Challenger,
) -> dg.Output[dict]:
    if not factory.spec.baselines.enabled:
        return dg.Output({}, metadata={"baselines": "off (spec baselines.enabled)"})
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
        for kind in ("backtest",)
        if s[kind]
    ]
    return dg.Output(scores, metadata={"baselines": md_table(plain(rows)), "untargeted_rows": offered})


@dg.asset(
    group_name=LOOP,
    partitions_def=batches,
    deps=[baselines],
    description="Moves the MLflow alias `champion` to the challenger when the verdict says so (the gate, or the "
    "policy the judge's record prefers); records the verdict and the move in the ledger.",
)
def promotion(
    context: dg.AssetExecutionContext, factory: FactoryResource, challenger: Challenger, evaluation: Evaluation
) -> dg.Output[dict]:
    verdict = promote_if_better(factory.plane, factory.registry, context.partition_key, challenger, evaluation)
    context.log.info(verdict.reason)
    return dg.Output(
        {"promoted": verdict.promoted, "reason": verdict.reason, "policy": verdict.policy},
        metadata={
            "promoted": verdict.promoted,
            "policy": verdict.policy,
            "reason": verdict.reason,
            "champion_version": factory.registry.version_of("champion"),
        },
    )
