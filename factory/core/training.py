"""Train and score the classifier, on real data for judging, always.

LightGBM with native categorical support: fast on 2 cores, strong on mixed tabular
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
from factory.core.types import BlindSpot, ModelScores

THRESHOLD = 0.5


@dataclass
class FactoryModel:
    """A fitted classifier plus what it needs to score a raw batch frame."""

    booster: object
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, list[str]]
    threshold: float = THRESHOLD

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
    model = FactoryModel(None, spec.numeric, spec.categorical, categories)
    positive_share = y.mean()
    class_w = np.where(y == 1, 0.5 / positive_share, 0.5 / (1 - positive_share))
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


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None


def _f1_recall(y: np.ndarray, pred: np.ndarray) -> tuple[float | None, float | None]:
    from sklearn.metrics import f1_score, recall_score

    if len(y) == 0:
        return None, None
    recall = float(recall_score(y, pred, zero_division=0)) if y.sum() else None
    return float(f1_score(y, pred, zero_division=0)), recall


def _bootstrap_auc(y: np.ndarray, p: np.ndarray, rounds: int = 200, seed: int = 0) -> tuple[float | None, float | None]:
    """95% percentile interval of ROC AUC over bootstrap resamples."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None, None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) == 2:
            values.append(roc_auc_score(y[idx], p[idx]))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def score_model(name: str, model: FactoryModel, labelled: pd.DataFrame, spec: DatasetSpec,
                blind_spots: list[BlindSpot] | tuple[BlindSpot, ...] = ()) -> ModelScores:
    """Metrics on real labelled rows, overall and on the union of the blind spots."""
    y = labelled[spec.target].astype(int).to_numpy()
    p = model.predict_proba(labelled)
    pred = (p >= model.threshold).astype(int)
    f1, recall = _f1_recall(y, pred)
    low, high = _bootstrap_auc(y, p)
    in_spots = np.zeros(len(labelled), dtype=bool)
    for spot in blind_spots:
        in_spots |= spot.mask(labelled).to_numpy()
    bs_auc = _auc(y[in_spots], p[in_spots]) if in_spots.any() else None
    bs_f1, _ = _f1_recall(y[in_spots], pred[in_spots])
    bs_low, bs_high = _bootstrap_auc(y[in_spots], p[in_spots]) if in_spots.any() else (None, None)
    return ModelScores(
        model=name, rows=len(labelled), auc=_auc(y, p), f1=f1, recall=recall,
        bs_rows=int(in_spots.sum()), bs_auc=bs_auc, bs_f1=bs_f1,
        auc_low=low, auc_high=high, bs_auc_low=bs_low, bs_auc_high=bs_high,
    )


def _value(x: float | None) -> float:
    return -1.0 if x is None else x


def prefer_synthetic(with_synthetic: ModelScores, real_only: ModelScores, spec: DatasetSpec) -> bool:
    """The ablation: keep the synthetic rows only when they raise blind-spot ROC AUC
    without costing more than the tolerance overall, on the same real holdout."""
    gains = _value(with_synthetic.bs_auc) > _value(real_only.bs_auc)
    keeps = _value(with_synthetic.auc) >= _value(real_only.auc) - spec.promotion.auc_tolerance
    return gains and keeps


def decide_promotion(challenger: ModelScores, champion: ModelScores, spec: DatasetSpec) -> tuple[bool, str]:
    """Promote only if the challenger holds overall ROC AUC within the tolerance AND
    gains at least the margin on the blind spots, both on real held-out rows."""
    tol, margin = spec.promotion.auc_tolerance, spec.promotion.blind_spot_margin
    if challenger.auc is None or champion.auc is None:
        return False, "holdout has a single class: ROC AUC undefined, champion kept"
    overall_ok = challenger.auc >= champion.auc - tol
    if challenger.bs_auc is None or champion.bs_auc is None:
        bs_ok, bs_text = challenger.auc > champion.auc, "no blind-spot rows with both classes; overall AUC must rise"
    else:
        bs_ok = challenger.bs_auc >= champion.bs_auc + margin and challenger.bs_auc > champion.bs_auc
        bs_text = f"blind-spot AUC {challenger.bs_auc:.4f} vs {champion.bs_auc:.4f} (margin {margin})"
    text = f"overall AUC {challenger.auc:.4f} vs {champion.auc:.4f} (tolerance {tol}); {bs_text}"
    if overall_ok and bs_ok:
        return True, "challenger wins: " + text
    return False, "champion kept: " + text
