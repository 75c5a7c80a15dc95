"""The steps of one cycle, in order, as plain functions over the data plane and the
registry. Dagster assets call these; the science lives in the stage modules.

For a landed batch t, labels are known up to batch L = t - label_delay. L is split
once: its discovery half finds the blind spots and joins the training data; its
holdout half judges the gate and is never used for anything else. The backtest then
scores the models on batch t itself (its labels arrive one batch later).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from factory.core.base.dataset import BATCH, content_hash
from factory.core.base.plane import DataPlane
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import (
    BlindSpot,
    ColumnDrift,
    Comparison,
    DriftReport,
    ModelScores,
    PerformanceEstimate,
    ValidationOutcome,
    plain,
)
from factory.core.discover.coverage import find_coverage_gaps, find_low_confidence
from factory.core.discover.error_slices import find_blind_spots
from factory.core.discover.persistence import blind_spot_table, persistence_table
from factory.core.discover.scan import SliceSearch
from factory.core.gate.synthetic import gate_synthetic
from factory.core.learn.baselines import train_baselines
from factory.core.learn.judge import split_holdout
from factory.core.learn.model import Classifier
from factory.core.learn.promotion import decide_promotion, prefer_synthetic
from factory.core.learn.recipe import train_model
from factory.core.learn.scoring import compare_models, score_model
from factory.core.monitor.drift import (
    detect_drift,
    domain_classifier,
    drift_table,
    fast_drift,
    prediction_drift,
)
from factory.core.monitor.estimation import estimate_for
from factory.core.registry.mlflow_registry import Registry
from factory.core.synth.choice import generate, generator_choice, untargeted_rows
from factory.core.synth.plan import GenerationPlan, plan_generation

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledSets:
    train: pd.DataFrame  # every labelled row except the holdout
    discovery: pd.DataFrame  # the newest labelled batch's discovery half
    holdout: pd.DataFrame  # the newest labelled batch's holdout half: the gate's judge
    newest: str


def labelled_sets(plane: DataPlane, batch_id: str) -> LabelledSets:
    labelled, newest = plane.labelled_window(batch_id)
    latest = labelled[labelled[BATCH] == newest]
    seed = int(content_hash(pd.DataFrame({"b": [newest]})), 16) % (2**32)
    discovery, holdout = split_holdout(latest, plane.spec.training.holdout_share, seed)
    train = labelled.drop(index=holdout.index)
    return LabelledSets(train.reset_index(drop=True), discovery.reset_index(drop=True), holdout.reset_index(drop=True), newest)


def initial_training(reference: pd.DataFrame) -> pd.DataFrame:
    """The first model's rows: the reference period minus its last batch, which becomes
    the first labelled batch the loop learns from."""
    return reference[reference[BATCH] < reference[BATCH].max()]


def train_initial_champion(plane: DataPlane, registry: Registry) -> str:
    """The first model, promoted without a baseline, and the ledger says so."""
    reference = plane.reference()
    last = reference[BATCH].max()
    train = initial_training(reference)
    model = train_model(train, plane.spec)
    _, version = registry.log_model_run(
        model, "initial-champion",
        params={"rows": len(train), "batches": f"{train[BATCH].min()}..{train[BATCH].max()}"},
        metrics={}, tags={"factory.role": "initial"}, example=train[list(plane.spec.features)],
    )
    registry.promote(version, batch_id=last, reason="first model: promoted without a baseline")
    return version


@dataclass(frozen=True)
class Monitoring:
    """Everything measured on a batch before its labels arrive."""

    report: DriftReport
    estimate: PerformanceEstimate  # the champion's label-free performance on the batch
    estimated_auc_drop: float | None  # vs the same estimate on the reference's last batch
    prediction_drift: ColumnDrift
    html_uri: str


def monitor(plane: DataPlane, champion: Classifier, batch_id: str) -> Monitoring:
    """Drift on the stored profile (fast path), the Evidently HTML report, prediction
    drift, a domain classifier and the CBPE estimate, recalibrated on the newest
    labelled batch. Persists the tidy drift table and the estimate."""
    spec = plane.spec
    current, reference = plane.validated(batch_id), plane.reference()
    report = fast_drift(batch_id, current, plane.profile(), spec)
    _, html = detect_drift(batch_id, reference, current, spec)
    baseline_rows = reference[reference[BATCH] == reference[BATCH].max()]
    labelled, newest = plane.labelled_window(batch_id)
    estimate = estimate_for(champion, current, spec.target, calibration=labelled[labelled[BATCH] == newest])
    baseline = estimate_for(champion, baseline_rows, spec.target)
    scores = prediction_drift(champion.predict_proba(baseline_rows), champion.predict_proba(current), spec.drift.stattest_threshold)
    domain_auc, domain_features = domain_classifier(reference, current, spec)
    report = replace(report, mean_score=estimate.expected_positive_rate, estimated_auc=estimate.auc,
                     domain_auc=domain_auc, domain_features=domain_features)
    html_uri = plane.write_report("drift", batch_id, "html", html)
    plane.write_report("drift", batch_id, "parquet", drift_table(report))
    plane.write_report("estimation", batch_id, "json", plain({**asdict(estimate), "prediction_drift": asdict(scores)}))
    drop = baseline.auc - estimate.auc if baseline.auc is not None and estimate.auc is not None else None
    return Monitoring(report, estimate, drop, scores, html_uri)


def champion_training(plane: DataPlane, registry: Registry) -> pd.DataFrame:
    """The real rows the champion was trained on, rebuilt from what its MLflow run
    recorded rather than kept as a copy: the initial champion's reference minus its last
    batch (checked by row count), a challenger's `labelled_sets(batch_id).train` (checked
    by content hash). Without that provenance (a model logged outside the loop, rows that
    changed since) the reference period stands in, with a warning.

    Real rows only, not the accepted synthetic rows a challenger may also have used: they
    were drawn from a generator fitted on these same rows, so they add no ground truth to
    a region, and counting them would let the loop close its coverage gaps with its own copies."""
    version = registry.version_of("champion")
    run = registry.run_of(version) if version else {}
    if run.get("factory.role") == "initial":
        rows = initial_training(plane.reference())
        if run.get("rows") == str(len(rows)):
            return rows.reset_index(drop=True)
    elif "batch_id" in run:
        rows = labelled_sets(plane, run["batch_id"]).train
        if run.get("factory.real_hash") == content_hash(rows):
            return rows
    LOG.warning("champion version %s: no recorded training set matches its run; "
                "blind spots compare with the reference period instead", version)
    return plane.reference()


def discover(plane: DataPlane, champion: Classifier, batch_id: str, registry: Registry) -> SliceSearch:
    """Error slices of the champion on the newest labelled batch (discovery half), the
    previous batch's slices' persistence there, and the newest batch's label-free spots.
    A slice's `train_support` and the coverage gaps count the rows the champion was
    trained on, not the reference period: the loop has taught it more since."""
    training = champion_training(plane, registry)
    sets = labelled_sets(plane, batch_id)
    errors = champion.predict(sets.discovery) != sets.discovery[plane.spec.target].astype(int).to_numpy()
    history = plane.blind_spot_history(before=batch_id)
    search = find_blind_spots(sets.discovery, errors, plane.spec, plane.profile(), reference=training, history=history)
    plane.write_blind_spots(batch_id, blind_spot_table(search.blind_spots, batch_id))
    if history:  # persistence: the previous batch's slices' lift on this labelled batch, as a new table
        plane.write_blind_spots(batch_id, persistence_table(history[-1], sets.discovery, errors, plane.spec.target, sets.newest),
                                kind="persistence")
    # label-free blind spots of the newest batch itself, kept apart: synthesis targets error slices only
    current = plane.validated(batch_id)
    proba = champion.predict_proba(current) if len(current) else []
    label_free = find_coverage_gaps(current, training, plane.spec, plane.profile(), proba=proba).blind_spots
    label_free += find_low_confidence(current, proba, plane.spec, plane.profile(), reference=training).blind_spots
    plane.write_blind_spots(batch_id, blind_spot_table(label_free, batch_id), kind="label_free")
    return search


@dataclass(frozen=True)
class SyntheticBatch:
    key: str
    rows: int
    requested: int
    failures: tuple[str, ...]
    plan: tuple[dict, ...]
    generator: dict = field(default_factory=dict)  # the generator used; for `auto`, the measured choice


def plan_synthesis(plane: DataPlane, batch_id: str, spots: list[BlindSpot], run_id: str) -> tuple[GenerationPlan, str]:
    """The generation plan for the blind spots, kept as plans/<batch>/<run>.json (never
    overwritten). Returns (plan, its uri)."""
    result = plan_generation(spots, len(labelled_sets(plane, batch_id).train), plane.spec)
    return result, plane.write_plan(batch_id, run_id, plain(result.as_dict()))


def synthesize(plane: DataPlane, batch_id: str, plan: GenerationPlan, run_id: str) -> SyntheticBatch:
    """Rows for the plan's requests; the plan is kept beside them as lineage."""
    sets = labelled_sets(plane, batch_id)
    rows, failures = generate(sets.train, plan.requests, plane.spec, plane.profile(), cycle=batch_id, plane=plane)  # fitted generators cached
    choice = generator_choice(sets.train, plane.spec, plane)  # cached by generate() above
    key = plane.write_synthetic(batch_id, run_id, rows, plain(plan.as_dict()), choice)
    planned = tuple(row for row in plan.table() if row["rows"] > 0)
    return SyntheticBatch(key, len(rows), plan.rows, tuple(failures), planned, choice)


@dataclass(frozen=True)
class GateResult:
    accepted_key: str
    outcome: ValidationOutcome
    structural: bool  # False: the batch broke the suite's structure (a generator bug), not just fidelity


def gate(plane: DataPlane, batch_id: str, synthetic: SyntheticBatch, spots: list[BlindSpot]) -> GateResult:
    """Row checks, then fidelity and privacy. Rows that fail are dropped; a batch that
    fails fidelity or privacy is rejected whole, and the cycle goes on real-only."""
    sets = labelled_sets(plane, batch_id)
    rows = plane.storage.read_parquet(synthetic.key)
    accepted, outcome = gate_synthetic(batch_id, rows, sets.train, plane.spec, plane.profile(), spots)
    structural = outcome.passed
    if outcome.passed and len(accepted):  # fidelity and privacy of what the row checks accepted
        accepted, outcome = judge_fidelity(plane, batch_id, accepted, outcome, sets, spots)
    key = plane.accepted_key(synthetic.key)
    plane.storage.write_parquet(key, accepted)
    plane.write_report("synthetic_validation", batch_id, "json", asdict(outcome))
    return GateResult(key, outcome, structural)


def judge_fidelity(plane: DataPlane, batch_id: str, accepted: pd.DataFrame, outcome: ValidationOutcome, sets: LabelledSets,
                   spots: list[BlindSpot]) -> tuple[pd.DataFrame, ValidationOutcome]:
    """Fidelity and privacy against the real rows of the same slices (holdout: the
    gate's judge, never a generator's input); the page under reports/synthetic_validation/,
    the numbers under reports/synthetic_fidelity/.
    A breach rejects the whole batch (spec gate.blocking) or only warns."""
    from factory.core.gate.quality import evaluate_synthetic, to_html

    spec = plane.spec
    report = evaluate_synthetic(batch_id, accepted, sets.train, sets.holdout, spec, spots, seed=spec.synthesis.seed)
    # its own folder: the warehouse reads every reports/synthetic_validation/*.json as a gate outcome
    plane.write_report("synthetic_fidelity", batch_id, "json", asdict(report) | {"headline": report.headline()})
    uri = plane.write_report("synthetic_validation", batch_id, "html", to_html(report, spec))
    if report.passed or not spec.gate.blocking:
        return accepted, replace(outcome, report_uri=uri, warnings=outcome.warnings + report.warnings + report.failures)
    failures = tuple(f"batch {batch_id}: {f}" for f in report.failures)
    return accepted.iloc[:0], replace(outcome, passed=False, failures=outcome.failures + failures, rows_dropped=outcome.rows, report_uri=uri)


def fidelity_headline(plane: DataPlane, outcome: ValidationOutcome) -> dict:
    """The overall fidelity and privacy numbers of the gate's last evaluation (empty when
    the batch was not evaluated), as plain values for Dagster metadata."""
    if not outcome.report_uri:
        return {}
    return plane.read_report_json("synthetic_fidelity", outcome.batch_id)["headline"]


@dataclass(frozen=True)
class Challenger:
    version: str
    run_id: str
    uses_synthetic: bool
    synthetic_rows: int
    with_synthetic: dict
    real_only: dict


def train_challenger(plane: DataPlane, registry: Registry, batch_id: str, accepted_key: str, spots: list[BlindSpot]) -> Challenger:
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
        model, f"challenger-{batch_id}",
        params=dict(batch_id=batch_id, newest_labelled=sets.newest, train_rows=len(sets.train),
                    synthetic_rows=len(synthetic) if use else 0, uses_synthetic=use,
                    recency_batches=spec.training.recency_batches, recency_weight=spec.training.recency_weight,
                    blind_spots=",".join(s.id for s in spots)),
        metrics=metrics,
        tags={"factory.batch": batch_id, "factory.real_hash": content_hash(sets.train), "factory.synthetic_batch": accepted_key if use else ""},
        example=sets.train[list(spec.features)],
        inputs={"training": sets.train[list(spec.features) + [spec.target]], "evaluation": sets.holdout[list(spec.features) + [spec.target]]},
    )
    return Challenger(version, run_id, use, len(synthetic), asdict(aug_scores) if aug_scores else {}, asdict(real_scores))


@dataclass(frozen=True)
class Evaluation:
    champion_version: str
    challenger_version: str
    gate_champion: ModelScores
    gate_challenger: ModelScores
    backtest_champion: ModelScores | None
    backtest_challenger: ModelScores | None
    comparison: Comparison  # challenger minus champion on the gate's holdout, paired intervals


def evaluate(plane: DataPlane, registry: Registry, batch_id: str, challenger_version: str, spots: list[BlindSpot]) -> Evaluation:
    """Champion vs challenger on the real holdout (the gate) and on batch t (the backtest)."""
    spec = plane.spec
    sets = labelled_sets(plane, batch_id)
    champion_version = registry.version_of("champion")
    champion, challenger = registry.load("champion"), registry.load(challenger_version)
    current = plane.validated(batch_id)
    current = current[current[spec.target].notna()]
    backtest = (lambda name, m: score_model(name, m, current, spec, spots)) if len(current) else (lambda *_: None)
    result = Evaluation(
        champion_version, challenger_version,
        score_model("champion", champion, sets.holdout, spec, spots),
        score_model("challenger", challenger, sets.holdout, spec, spots),
        backtest("champion", champion), backtest("challenger", challenger),
        compare_models(challenger, champion, sets.holdout, spec, spots),
    )
    registry.log_metrics(challenger_version, {
        **scores_metrics("gate.champion", result.gate_champion), **scores_metrics("gate.challenger", result.gate_challenger),
        **scores_metrics("backtest.champion", result.backtest_champion), **scores_metrics("backtest.challenger", result.backtest_challenger),
        **{f"gate.diff.{k}": v for k, v in asdict(result.comparison).items()},
    })
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
        out.update({f"{key}.{k}": v for k, v in asdict(spot).items() if k not in ("blind_spot_id", "metric", "predicate")})
    return out


def evaluation_table(result: Evaluation, batch_id: str) -> pd.DataFrame:
    """The evaluation as tidy rows (one per set and model), for the warehouse."""
    versions = {"champion": result.champion_version, "challenger": result.challenger_version}
    rows = [dict(batch_id=batch_id, eval_set=eval_set, role=role, model_version=versions[role],
                 **{k: getattr(m, k) for k in ("rows", "auc", "f1", "recall", "bs_rows", "bs_auc", "bs_f1")})
            for eval_set, role, m in (("gate", "champion", result.gate_champion), ("gate", "challenger", result.gate_challenger),
                                      ("backtest", "champion", result.backtest_champion), ("backtest", "challenger", result.backtest_challenger))
            if m is not None]
    frame = pd.DataFrame(rows, columns=["batch_id", "eval_set", "role", "model_version", "rows", "auc", "f1", "recall",
                                        "bs_rows", "bs_auc", "bs_f1"])
    return frame.astype({c: "float64" for c in ("auc", "f1", "recall", "bs_auc", "bs_f1")})


def gate_decision(spec: DatasetSpec, evaluation: Evaluation) -> tuple[bool, str]:
    return decide_promotion(evaluation.comparison, spec)


def promote_if_better(plane: DataPlane, registry: Registry, batch_id: str, evaluation: Evaluation) -> tuple[bool, str]:
    promote, reason = gate_decision(plane.spec, evaluation)
    if promote:
        registry.promote(evaluation.challenger_version, batch_id, reason, metrics={
            "gate_auc": evaluation.gate_challenger.auc, "gate_bs_auc": evaluation.gate_challenger.bs_auc})
    return promote, reason


def run_baselines(plane: DataPlane, registry: Registry, batch_id: str, spots: list[BlindSpot], offered_rows: int,
                  cycle_version: str) -> dict[str, dict]:
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
    scored = {name: {"gate": score_model(name, model, sets.holdout, spec, spots),
                     "backtest": score_model(name, model, current, spec, spots) if len(current) else None}
              for name, model in sorted(models.items())}
    registry.log_metrics(cycle_version, {k: v for name, sets_ in scored.items() for kind, s in sets_.items()
                                         for k, v in scores_metrics(f"baseline.{name}.{kind}", s).items()})
    scores = {name: {kind: asdict(s) if s else None for kind, s in sets_.items()} for name, sets_ in scored.items()}
    plane.write_baselines(batch_id, scores)
    return scores
