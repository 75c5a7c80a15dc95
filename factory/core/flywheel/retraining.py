"""Cycle steps that learn: the first champion, the challenger (with and without the
accepted synthetic rows), its evaluation on real rows only, the promotion decision and
the baselines it is compared with."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import pandas as pd

from factory.core.base.dataset import BATCH, content_hash
from factory.core.base.plane import DataPlane
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import (
    BlindSpot,
    Comparison,
    ModelScores,
)
from factory.core.learn.baselines import train_baselines
from factory.core.learn.judge import initial_training, labelled_sets
from factory.core.learn.promotion import decide_promotion, prefer_synthetic
from factory.core.learn.recipe import train_model
from factory.core.learn.scoring import compare_models, score_model
from factory.core.registry.mlflow_registry import Registry
from factory.core.synth.choice import untargeted_rows

LOG = logging.getLogger(__name__)


def train_initial_champion(plane: DataPlane, registry: Registry) -> str:
    """The first model, promoted without a baseline, and the ledger says so."""
    reference = plane.reference()
    last = reference[BATCH].max()
    train = initial_training(reference)
    model = train_model(train, plane.spec)
    _, version = registry.log_model_run(
        model,
        "initial-champion",
        params={"rows": len(train), "batches": f"{train[BATCH].min()}..{train[BATCH].max()}"},
        metrics={},
        tags={"factory.role": "initial"},
        example=train[list(plane.spec.features)],
    )
    registry.promote(version, batch_id=last, reason="first model: promoted without a baseline")
    return version


@dataclass(frozen=True)
class Challenger:
    version: str
    run_id: str
    uses_synthetic: bool
    synthetic_rows: int
    with_synthetic: dict
    real_only: dict


def train_challenger(
    plane: DataPlane, registry: Registry, batch_id: str, accepted_key: str, spots: list[BlindSpot]
) -> Challenger:
    """Train twice on the same recipe, with and without the accepted synthetic rows;
    keep the better on the real holdout (the ablation), log it to MLflow."""
    spec = plane.spec
    sets = labelled_sets(plane, batch_id)
    synthetic = plane.storage.read_parquet(accepted_key)
    real_only = train_model(sets.train, spec)
    real_scores = score_model("real_only", real_only, sets.holdout, spec, spots)
    if len(synthetic):
        augmented = train_model(sets.train, spec, synthetic=synthetic)
        aug_scores = score_model("with_synthetic", augmented, sets.holdout, spec, spots)
        use = prefer_synthetic(aug_scores, real_scores, spec)
    else:
        augmented, aug_scores, use = None, None, False
    model = augmented if use else real_only
    metrics = {f"real_only_{k}": v for k, v in asdict(real_scores).items() if isinstance(v, float)}
    if aug_scores:
        metrics.update({f"with_synthetic_{k}": v for k, v in asdict(aug_scores).items() if isinstance(v, float)})
    run_id, version = registry.log_model_run(
        model,
        f"challenger-{batch_id}",
        params=dict(
            batch_id=batch_id,
            newest_labelled=sets.newest,
            train_rows=len(sets.train),
            synthetic_rows=len(synthetic) if use else 0,
            uses_synthetic=use,
            recency_batches=spec.training.recency_batches,
            recency_weight=spec.training.recency_weight,
            blind_spots=",".join(s.id for s in spots),
        ),
        metrics=metrics,
        tags={
            "factory.batch": batch_id,
            "factory.real_hash": content_hash(sets.train),
            "factory.synthetic_batch": accepted_key if use else "",
        },
        example=sets.train[list(spec.features)],
        inputs={
            "training": sets.train[list(spec.features) + [spec.target]],
            "evaluation": sets.holdout[list(spec.features) + [spec.target]],
        },
    )
    return Challenger(
        version, run_id, use, len(synthetic), asdict(aug_scores) if aug_scores else {}, asdict(real_scores)
    )


@dataclass(frozen=True)
class Evaluation:
    champion_version: str
    challenger_version: str
    gate_champion: ModelScores
    gate_challenger: ModelScores
    backtest_champion: ModelScores | None
    backtest_challenger: ModelScores | None
    comparison: Comparison  # challenger minus champion on the gate's holdout, paired intervals


def evaluate(
    plane: DataPlane, registry: Registry, batch_id: str, challenger_version: str, spots: list[BlindSpot]
) -> Evaluation:
    """Champion vs challenger on the real holdout (the gate) and on batch t (the backtest)."""
    spec = plane.spec
    sets = labelled_sets(plane, batch_id)
    champion_version = registry.version_of("champion")
    champion, challenger = registry.load("champion"), registry.load(challenger_version)
    current = plane.validated(batch_id)
    current = current[current[spec.target].notna()]
    backtest = (lambda name, m: score_model(name, m, current, spec, spots)) if len(current) else (lambda *_: None)
    result = Evaluation(
        champion_version,
        challenger_version,
        score_model("champion", champion, sets.holdout, spec, spots),
        score_model("challenger", challenger, sets.holdout, spec, spots),
        backtest("champion", champion),
        backtest("challenger", challenger),
        compare_models(challenger, champion, sets.holdout, spec, spots),
    )
    registry.log_metrics(
        challenger_version,
        {
            **scores_metrics("gate.champion", result.gate_champion),
            **scores_metrics("gate.challenger", result.gate_challenger),
            **scores_metrics("backtest.champion", result.backtest_champion),
            **scores_metrics("backtest.challenger", result.backtest_challenger),
            **{f"gate.diff.{k}": v for k, v in asdict(result.comparison).items()},
        },
    )
    plane.write_evaluation(batch_id, asdict(result), evaluation_table(result, batch_id))
    return result


def scores_metrics(prefix: str, scores: ModelScores | None) -> dict[str, float | None]:
    """A model's scores as MLflow metrics: `<prefix>.<metric>` overall and on the union,
    `<prefix>.spot.<id>.<error metric>.<metric>` per blind spot."""
    if scores is None:
        return {}
    out = {f"{prefix}.{k}": v for k, v in asdict(scores).items() if k not in ("model", "spots")}
    for spot in scores.spots:
        key = f"{prefix}.spot.{spot.blind_spot_id}.{spot.metric}"
        out.update(
            {f"{key}.{k}": v for k, v in asdict(spot).items() if k not in ("blind_spot_id", "metric", "predicate")}
        )
    return out


def evaluation_table(result: Evaluation, batch_id: str) -> pd.DataFrame:
    """The evaluation as tidy rows (one per set and model), for the warehouse."""
    versions = {"champion": result.champion_version, "challenger": result.challenger_version}
    rows = [
        dict(
            batch_id=batch_id,
            eval_set=eval_set,
            role=role,
            model_version=versions[role],
            **{k: getattr(m, k) for k in ("rows", "auc", "f1", "recall", "bs_rows", "bs_auc", "bs_f1")},
        )
        for eval_set, role, m in (
            ("gate", "champion", result.gate_champion),
            ("gate", "challenger", result.gate_challenger),
            ("backtest", "champion", result.backtest_champion),
            ("backtest", "challenger", result.backtest_challenger),
        )
        if m is not None
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "batch_id",
            "eval_set",
            "role",
            "model_version",
            "rows",
            "auc",
            "f1",
            "recall",
            "bs_rows",
            "bs_auc",
            "bs_f1",
        ],
    )
    return frame.astype(dict.fromkeys(("auc", "f1", "recall", "bs_auc", "bs_f1"), "float64"))


def gate_decision(spec: DatasetSpec, evaluation: Evaluation) -> tuple[bool, str]:
    return decide_promotion(evaluation.comparison, spec)


def promote_if_better(plane: DataPlane, registry: Registry, batch_id: str, evaluation: Evaluation) -> tuple[bool, str]:
    promote, reason = gate_decision(plane.spec, evaluation)
    if promote:
        registry.promote(
            evaluation.challenger_version,
            batch_id,
            reason,
            metrics={"gate_auc": evaluation.gate_challenger.auc, "gate_bs_auc": evaluation.gate_challenger.bs_auc},
        )
    return promote, reason


def run_baselines(
    plane: DataPlane, registry: Registry, batch_id: str, spots: list[BlindSpot], offered_rows: int, cycle_version: str
) -> dict[str, dict]:
    """Every baseline scored on the gate's holdout and on the backtest batch, the same
    real rows the champion and challenger are judged on; logged to the cycle's run (the
    challenger's, `cycle_version`) as `baseline.<name>.<set>.<metric>`."""
    spec = plane.spec
    sets = labelled_sets(plane, batch_id)
    untargeted = untargeted_rows(sets.train, offered_rows, spec, plane.profile(), cycle=batch_id)
    models = train_baselines(sets.train, spec, plane.profile(), untargeted)
    models["frozen"] = registry.load(registry.first_version())
    current = plane.validated(batch_id)
    current = current[current[spec.target].notna()]
    scored = {
        name: {
            "gate": score_model(name, model, sets.holdout, spec, spots),
            "backtest": score_model(name, model, current, spec, spots) if len(current) else None,
        }
        for name, model in sorted(models.items())
    }
    registry.log_metrics(
        cycle_version,
        {
            k: v
            for name, sets_ in scored.items()
            for kind, s in sets_.items()
            for k, v in scores_metrics(f"baseline.{name}.{kind}", s).items()
        },
    )
    scores = {name: {kind: asdict(s) if s else None for kind, s in sets_.items()} for name, sets_ in scored.items()}
    plane.write_baselines(batch_id, scores)
    return scores
