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
from factory.core.metrics import metric_values, point_and_interval, resample_chunks, roc_auc
from factory.core.types import BlindSpot, Comparison, ModelScores, SpotScores

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


def spots_mask(df: pd.DataFrame, blind_spots: list[BlindSpot] | tuple[BlindSpot, ...]) -> np.ndarray:
    """True for rows inside any of the blind spots."""
    inside = np.zeros(len(df), dtype=bool)
    for spot in blind_spots:
        inside |= spot.mask(df).to_numpy()
    return inside


MIN_INTERVAL_ROWS = 10  # fewer rows than this: a value, no interval


def _bootstrap(y: np.ndarray, p: np.ndarray, pred: np.ndarray, masks: dict[str, np.ndarray], rounds: int, seed: int,
               q: np.ndarray | None = None) -> dict[str, dict[str, tuple]]:
    """Each metric as (value, low, high) on each mask's rows, every mask read off the
    same resamples of all rows (taken in chunks, so memory stays bounded). None where
    undefined (no rows, a single class); no interval on fewer than MIN_INTERVAL_ROWS.
    `q` (calibrated probabilities) adds the Brier score on the first mask."""
    parts: dict[str, dict[str, list]] = {key: {} for key in masks}
    for w in resample_chunks(len(y), rounds, seed):
        for i, (key, m) in enumerate(masks.items()):
            if m.any():
                values = metric_values(y[m], p[m], pred[m], w[:, m], q[m] if q is not None and i == 0 else None)
                for name, v in values.items():
                    parts[key].setdefault(name, []).append(v)
    out = {}
    for key, m in masks.items():
        if not m.any():
            out[key] = {k: (None, None, None) for k in ("auc", "pr_auc", "f1", "recall")}
            continue
        out[key] = {name: point_and_interval(np.concatenate(v)) for name, v in parts[key].items()}
        if m.sum() < MIN_INTERVAL_ROWS:
            out[key] = {name: (v[0], None, None) for name, v in out[key].items()}
    return out


def _fields(metrics: dict[str, tuple], prefix: str = "") -> dict[str, float | None]:
    out = {}
    for name, (value, low, high) in metrics.items():
        out.update({f"{prefix}{name}": value, f"{prefix}{name}_low": low, f"{prefix}{name}_high": high})
    return out


def score_model(name: str, model: FactoryModel, labelled: pd.DataFrame, spec: DatasetSpec,
                blind_spots: list[BlindSpot] | tuple[BlindSpot, ...] = (), rounds: int = 200) -> ModelScores:
    """Metrics on real labelled rows: overall, on the union of the blind spots, and in
    each blind spot, every one with a bootstrap 95% interval (the same resamples for all).
    Threshold-free metrics (ROC AUC, PR AUC) decide; F1 and recall are reported."""
    y = labelled[spec.target].astype(int).to_numpy()
    p = model.predict_proba(labelled)
    pred = (p >= model.threshold).astype(int)
    q = model.calibrated_proba(labelled) if len(y) else None
    masks = {"overall": np.ones(len(y), dtype=bool), "union": spots_mask(labelled, blind_spots)}
    masks.update({i: spot.mask(labelled).to_numpy() for i, spot in enumerate(blind_spots)})
    result = _bootstrap(y, p, pred, masks, rounds, seed=1, q=q)
    spots = tuple(SpotScores(spot.id, spot.metric if spot.kind == "error" else spot.kind, spot.predicate,
                             rows=int(masks[i].sum()), positives=int(y[masks[i]].sum()), **_fields(result[i]))
                  for i, spot in enumerate(blind_spots))
    return ModelScores(model=name, rows=len(labelled), bs_rows=int(masks["union"].sum()), spots=spots,
                       **_fields(result["overall"]), **_fields(result["union"], prefix="bs_"))


def compare_models(challenger: FactoryModel, champion: FactoryModel, labelled: pd.DataFrame, spec: DatasetSpec,
                   blind_spots: list[BlindSpot] | tuple[BlindSpot, ...] = (), rounds: int = 300, seed: int = 0) -> Comparison:
    """Paired bootstrap of ROC AUC differences: both models scored on the same resamples,
    so the interval reflects the difference, not each model's own noise."""
    y = labelled[spec.target].astype(int).to_numpy()
    pa, pb = challenger.predict_proba(labelled), champion.predict_proba(labelled)
    inside = spots_mask(labelled, blind_spots)
    overall, spots = [], []
    for w in resample_chunks(len(y), rounds, seed):
        overall.append(roc_auc(y, pa, w) - roc_auc(y, pb, w))
        spots.append(roc_auc(y[inside], pa[inside], w[:, inside]) - roc_auc(y[inside], pb[inside], w[:, inside]))
    spot_diff = point_and_interval(np.concatenate(spots)) if inside.any() else (None, None, None)
    return Comparison(len(y), int(inside.sum()), *point_and_interval(np.concatenate(overall)), *spot_diff)


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
