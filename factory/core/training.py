"""Train and score the classifier, on real data for judging, always.

LightGBM with native categorical support (the default; `training.model: mlp` picks
the torch MLP in mlp.py instead): fast on 2 cores, strong on mixed tabular
data, and the model FINDINGS.md measured with. Class weights are balanced, so a
threshold of 0.5 sits at the prior-corrected decision point and cannot collapse
to 0.05 under drift the way an F1-tuned threshold did. Recency weights make the
newest labelled batches count more (the baseline R that synthesis must beat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory.core.dataset import BATCH
from factory.core.spec import DatasetSpec
from factory.core.types import BlindSpot, Comparison, ModelScores

THRESHOLD = 0.5


@dataclass
class FactoryModel:
    """A fitted classifier plus what it needs to score a raw batch frame."""

    booster: object
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, list[str]]
    threshold: float = THRESHOLD
    prior: float = 0.5  # positive share the class weights removed; restores calibrated odds

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        x = pd.DataFrame(index=df.index)
        for c in self.numeric:
            x[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        for c in self.categorical:
            x[c] = pd.Categorical(df[c], categories=self.categories[c])
        return x

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Probability of the positive label for each row."""
        return self.booster.predict_proba(self.frame(df))[:, 1]

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(df) >= self.threshold).astype(int)

    def calibrated_proba(self, df: pd.DataFrame) -> np.ndarray:
        """P(positive) on the training prior: balanced class weights scale the odds by
        (1 - prior) / prior, so multiplying them back by prior / (1 - prior) undoes it."""
        p = np.clip(self.predict_proba(df), 1e-6, 1 - 1e-6)
        odds = p / (1 - p) * self.prior / (1 - self.prior)
        return odds / (1 + odds)


def recency_weights(df: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """recency_weight for rows of the newest `recency_batches` batches, 1 elsewhere."""
    batches = sorted(df[BATCH].unique())
    recent = set(batches[-spec.training.recency_batches:]) if spec.training.recency_batches else set()
    return np.where(df[BATCH].isin(recent), spec.training.recency_weight, 1.0)


def train_model(
    real: pd.DataFrame,
    spec: DatasetSpec,
    synthetic: pd.DataFrame | None = None,
    seed: int = 0,
    recency: bool = True,
) -> FactoryModel:
    """Fit on real rows (recency-weighted) plus optional synthetic rows."""
    import lightgbm as lgb

    frames, weights = [real], [recency_weights(real, spec) if recency else np.ones(len(real))]
    if synthetic is not None and len(synthetic):
        frames.append(synthetic)
        weights.append(np.full(len(synthetic), spec.training.synthetic_weight))
    data = pd.concat(frames, ignore_index=True)
    w = np.concatenate(weights)
    y = data[spec.target].astype(int).to_numpy()
    categories = {c: sorted(real[c].dropna().astype(str).unique()) for c in spec.categorical}
    positive_share = float(np.average(y, weights=w))
    class_w = np.where(y == 1, 0.5 / positive_share, 0.5 / (1 - positive_share))
    if spec.training.model == "mlp":
        from factory.core.mlp import train_mlp

        return train_mlp(data, y, w * class_w, spec.numeric, spec.categorical, positive_share, seed=seed)
    model = FactoryModel(None, spec.numeric, spec.categorical, categories, prior=positive_share)
    booster = lgb.LGBMClassifier(
        n_estimators=spec.training.n_estimators,
        learning_rate=spec.training.learning_rate,
        num_leaves=31,
        min_child_samples=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=2,
        verbose=-1,
    )
    booster.fit(model.frame(data), y, sample_weight=w * class_w)
    model.booster = booster
    return model


def split_holdout(batch: pd.DataFrame, share: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the newest labelled batch into (discovery, holdout). The holdout judges
    the gate only: it never finds blind spots, fits a generator or trains a model."""
    rng = np.random.default_rng(seed)
    is_holdout = rng.random(len(batch)) < share
    return batch[~is_holdout], batch[is_holdout]


def _two_classes(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if _two_classes(y) else None


def _pr_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if _two_classes(y) else None


def _f1(y: np.ndarray, pred: np.ndarray) -> float | None:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, zero_division=0)) if len(y) else None


def _recall(y: np.ndarray, pred: np.ndarray) -> float | None:
    return float(pred[y == 1].mean()) if (y == 1).any() else None


def _interval(values: list[float]) -> tuple[float | None, float | None]:
    if len(values) < 20:
        return None, None
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def _bootstrap(y: np.ndarray, p: np.ndarray, pred: np.ndarray, rounds: int, seed: int) -> dict[str, tuple]:
    """95% percentile intervals of ROC AUC and F1 over bootstrap resamples of the rows."""
    from sklearn.metrics import f1_score, roc_auc_score

    if len(y) < 10:
        return {"auc": (None, None), "f1": (None, None)}
    rng = np.random.default_rng(seed)
    aucs, f1s = [], []
    for _ in range(rounds):
        idx = rng.integers(0, len(y), len(y))
        f1s.append(f1_score(y[idx], pred[idx], zero_division=0))
        if _two_classes(y[idx]):
            aucs.append(roc_auc_score(y[idx], p[idx]))
    return {"auc": _interval(aucs), "f1": _interval(f1s)}


def spots_mask(df: pd.DataFrame, blind_spots: list[BlindSpot] | tuple[BlindSpot, ...]) -> np.ndarray:
    """True for rows inside any of the blind spots."""
    inside = np.zeros(len(df), dtype=bool)
    for spot in blind_spots:
        inside |= spot.mask(df).to_numpy()
    return inside


def score_model(name: str, model: FactoryModel, labelled: pd.DataFrame, spec: DatasetSpec,
                blind_spots: list[BlindSpot] | tuple[BlindSpot, ...] = (), rounds: int = 200) -> ModelScores:
    """Metrics on real labelled rows, overall and on the union of the blind spots.
    Threshold-free metrics (ROC AUC, PR AUC) decide; F1 and recall are reported."""
    from sklearn.metrics import brier_score_loss

    y = labelled[spec.target].astype(int).to_numpy()
    p = model.predict_proba(labelled)
    pred = (p >= model.threshold).astype(int)
    inside = spots_mask(labelled, blind_spots)
    overall = _bootstrap(y, p, pred, rounds, seed=1)
    spots = _bootstrap(y[inside], p[inside], pred[inside], rounds, seed=2)
    return ModelScores(
        model=name, rows=len(labelled), auc=_auc(y, p), f1=_f1(y, pred), recall=_recall(y, pred),
        bs_rows=int(inside.sum()), bs_auc=_auc(y[inside], p[inside]), bs_f1=_f1(y[inside], pred[inside]),
        auc_low=overall["auc"][0], auc_high=overall["auc"][1], bs_auc_low=spots["auc"][0], bs_auc_high=spots["auc"][1],
        pr_auc=_pr_auc(y, p), brier=float(brier_score_loss(y, model.calibrated_proba(labelled))) if len(y) else None,
        bs_pr_auc=_pr_auc(y[inside], p[inside]), bs_recall=_recall(y[inside], pred[inside]),
        f1_low=overall["f1"][0], f1_high=overall["f1"][1], bs_f1_low=spots["f1"][0], bs_f1_high=spots["f1"][1],
    )


def compare_models(challenger: FactoryModel, champion: FactoryModel, labelled: pd.DataFrame, spec: DatasetSpec,
                   blind_spots: list[BlindSpot] | tuple[BlindSpot, ...] = (), rounds: int = 300, seed: int = 0) -> Comparison:
    """Paired bootstrap of ROC AUC differences: both models scored on the same resamples,
    so the interval reflects the difference, not each model's own noise."""
    from sklearn.metrics import roc_auc_score

    y = labelled[spec.target].astype(int).to_numpy()
    pa, pb = challenger.predict_proba(labelled), champion.predict_proba(labelled)
    inside = spots_mask(labelled, blind_spots)
    rng = np.random.default_rng(seed)

    def paired(sel: np.ndarray) -> tuple[float | None, float | None, float | None]:
        ys, a, b = y[sel], pa[sel], pb[sel]
        if not _two_classes(ys):
            return None, None, None
        diffs = []
        for _ in range(rounds):
            idx = rng.integers(0, len(ys), len(ys))
            if _two_classes(ys[idx]):
                diffs.append(roc_auc_score(ys[idx], a[idx]) - roc_auc_score(ys[idx], b[idx]))
        low, high = _interval(diffs)
        return float(roc_auc_score(ys, a) - roc_auc_score(ys, b)), low, high

    overall = paired(np.ones(len(y), dtype=bool))
    spots = paired(inside) if inside.any() else (None, None, None)
    return Comparison(len(y), int(inside.sum()), *overall, *spots)


def _value(x: float | None) -> float:
    return -1.0 if x is None else x


def prefer_synthetic(with_synthetic: ModelScores, real_only: ModelScores, spec: DatasetSpec) -> bool:
    """The ablation: keep the synthetic rows only when they raise blind-spot ROC AUC
    without costing more than the tolerance overall, on the same real holdout."""
    gains = _value(with_synthetic.bs_auc) > _value(real_only.bs_auc)
    keeps = _value(with_synthetic.auc) >= _value(real_only.auc) - spec.promotion.auc_tolerance
    return gains and keeps


def decide_promotion(comparison: Comparison, spec: DatasetSpec) -> tuple[bool, str]:
    """Promote only if the challenger holds overall ROC AUC within the tolerance AND its
    blind-spot ROC AUC gain is at least the margin with a paired 95% interval above
    zero (without blind-spot rows, the overall gain's interval must be above zero)."""
    c, tol, margin = comparison, spec.promotion.auc_tolerance, spec.promotion.blind_spot_margin
    if c.auc_diff is None:
        return False, "champion kept: the holdout has a single class, ROC AUC is undefined"
    overall_ok = c.auc_diff >= -tol
    text = f"overall AUC {c.auc_diff:+.4f} [{_fmt(c.auc_diff_low)}, {_fmt(c.auc_diff_high)}] (tolerance {tol})"
    if c.bs_auc_diff is None:
        gain_ok = c.auc_diff_low is not None and c.auc_diff_low > 0
        text += f"; no blind-spot rows with both classes ({c.bs_rows} rows): the overall gain must be significant"
    else:
        gain_ok = c.bs_auc_diff >= margin and c.bs_auc_diff_low is not None and c.bs_auc_diff_low > 0
        text += f"; blind-spot AUC {c.bs_auc_diff:+.4f} [{_fmt(c.bs_auc_diff_low)}, {_fmt(c.bs_auc_diff_high)}] on {c.bs_rows} rows (margin {margin})"
    if overall_ok and gain_ok:
        return True, "challenger wins: " + text
    return False, "champion kept: " + text


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"
