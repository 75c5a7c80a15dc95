"""Label-free performance estimation (confidence-based, as NannyML's CBPE does).

If the champion's probabilities are calibrated, each row is a coin with known bias:
row i is positive with probability p_i. The expected confusion matrix of the
champion's decisions then follows without labels, and so do expected ROC AUC, F1 and
recall. Drawing labels y_i ~ Bernoulli(p_i) many times gives the spread realised
performance would have if calibration holds: the 95% interval. When the labels arrive,
`with_realised` records realised next to estimated, so the estimator's error is data.

CBPE's one assumption is that P(y | x) did not move (covariate shift only); under
concept drift the estimate is optimistic, which is why `estimate_for` recalibrates on
the newest labelled batch and why realised performance is kept beside the estimate.

Why not NannyML's own CBPE: nannyml 0.13.1 (its last release, mid-2025) would move the
pinned lightgbm to 4.5.0 and pull Google Cloud storage libraries into the whole
environment (a `pip --dry-run` against the lock, ../shared/STACK.md); the estimator is a
few vectorised lines here, its ROC AUC computed by measure.metrics like every other.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from factory.core.base.errors import FactoryError
from factory.core.base.types import PerformanceEstimate
from factory.core.measure.metrics import roc_auc

DRAWS = 400


def estimate_performance(
    probabilities: np.ndarray, decisions: np.ndarray, draws: int = DRAWS, seed: int = 0
) -> PerformanceEstimate:
    """Expected ROC AUC / F1 / recall (positive class) of `decisions` on a batch whose
    calibrated P(positive) are `probabilities`, with 95% intervals."""
    p = np.asarray(probabilities, dtype=float)
    pred = np.asarray(decisions).astype(bool)
    if p.shape != pred.shape or p.ndim != 1:
        raise FactoryError(f"estimation: {p.shape[0] if p.ndim else 0} probabilities but {pred.size} decisions")
    if p.size == 0:
        raise FactoryError("estimation: the batch has no rows to score")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise FactoryError("estimation: probabilities must lie in [0, 1] without missing values")

    # point estimates: the expected confusion matrix
    tp, fn = float(p[pred].sum()), float(p[~pred].sum())
    fp = float((1 - p[pred]).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else None
    recall = tp / (tp + fn) if tp + fn > 0 else None
    auc = _expected_auc(p)

    # intervals: realised metrics under labels drawn from the probabilities
    rng = np.random.default_rng(seed)
    labels = rng.random((draws, p.size)) < p
    aucs = _auc_per_draw(labels, p)
    tps = (labels & pred).sum(axis=1)
    positives = labels.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1s = 2 * tps / (positives + pred.sum())
        recalls = tps / positives
    return PerformanceEstimate(
        rows=int(p.size),
        auc=auc,
        **_interval("auc", aucs),
        f1=f1,
        **_interval("f1", f1s),
        recall=recall,
        **_interval("recall", recalls),
        expected_positive_rate=float(p.mean()),
    )


def _expected_auc(p: np.ndarray) -> float | None:
    """AUC of the ROC curve whose TPR and FPR use expected positives (p) and negatives
    (1 - p) in place of labels, rows taken in score order (tied scores together)."""
    positives, negatives = p.sum(), (1 - p).sum()
    if positives <= 0 or negatives <= 0:
        return None
    order = np.argsort(-p, kind="stable")
    scores = p[order]
    last = np.r_[scores[1:] != scores[:-1], True]  # end of each group of tied scores
    tpr = np.r_[0, np.cumsum(p[order])[last]] / positives
    fpr = np.r_[0, np.cumsum(1 - p[order])[last]] / negatives
    return float(np.trapezoid(tpr, fpr))


def _auc_per_draw(labels: np.ndarray, scores: np.ndarray, chunk: int = 50) -> np.ndarray:
    """ROC AUC of fixed scores against each row of drawn labels: every row enters once
    as a positive and once as a negative, weighted by its label in the draw, so the
    weighted Mann-Whitney of measure.metrics scores all draws (NaN for a single class)."""
    n = labels.shape[1]
    y, s = np.r_[np.ones(n), np.zeros(n)], np.r_[scores, scores]
    return np.concatenate(
        [
            roc_auc(y, s, np.hstack([part, ~part]).astype(float))
            for part in np.array_split(labels, max(1, -(-len(labels) // chunk)))
        ]
    )


def _interval(name: str, values: np.ndarray) -> dict[str, float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {f"{name}_low": None, f"{name}_high": None}
    low, high = np.quantile(values, [0.025, 0.975])
    return {f"{name}_low": float(low), f"{name}_high": float(high)}


def realised_performance(labels: np.ndarray, scores: np.ndarray, decisions: np.ndarray) -> dict[str, float | None]:
    """ROC AUC, F1 and recall of the positive class once labels are known."""
    y = np.asarray(labels).astype(bool)
    pred = np.asarray(decisions).astype(bool)
    tp, positives = int((y & pred).sum()), int(y.sum())
    auc = (
        float(roc_auc(y.astype(float), np.asarray(scores, dtype=float), np.ones((1, y.size)))[0])
        if 0 < positives < y.size
        else None
    )
    f1 = 2 * tp / (positives + int(pred.sum())) if positives + pred.sum() > 0 else None
    return dict(auc=auc, f1=f1, recall=tp / positives if positives else None)


def with_realised(
    estimate: PerformanceEstimate, labels: np.ndarray, scores: np.ndarray, decisions: np.ndarray
) -> PerformanceEstimate:
    """The estimate with realised performance beside it (the estimator's error is visible)."""
    real = realised_performance(labels, scores, decisions)
    return dataclasses.replace(
        estimate, realised_auc=real["auc"], realised_f1=real["f1"], realised_recall=real["recall"]
    )


MIN_CALIBRATION_ROWS = 100


def estimate_for(
    model, frame: pd.DataFrame, target: str, calibration: pd.DataFrame | None = None, seed: int = 0
) -> PerformanceEstimate:
    """CBPE estimate of a model (a learn Classifier: predict_proba, threshold, calibrated) on
    a frame, scored once; realised performance beside it when every row is labelled.

    With `calibration` (the newest labelled rows), the model's scores are recalibrated
    on them by isotonic regression first: on the hotel replay this cut the estimator's
    error on ROC AUC from ~0.06 to ~0.01, because P(y | x) drifts and the newest labels
    carry it. Without it (or with too few rows / one class), the model's own
    prior-corrected probabilities are used."""
    scores = model.predict_proba(frame)
    decisions = (scores >= model.threshold).astype(int)
    probabilities = model.calibrated(scores)
    if calibration is not None and len(calibration) >= MIN_CALIBRATION_ROWS:
        labels = calibration[target].to_numpy()
        if np.unique(labels[~np.isnan(labels)]).size == 2:
            from sklearn.isotonic import IsotonicRegression

            known = ~np.isnan(labels)
            iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
            iso.fit(model.predict_proba(calibration)[known], labels[known])
            probabilities = iso.predict(scores)
    estimate = estimate_performance(probabilities, decisions, seed=seed)
    truth = frame[target] if target in frame.columns else pd.Series(dtype=float)
    if len(truth) and truth.notna().all():
        return with_realised(estimate, truth.to_numpy() == 1, scores, decisions)
    return estimate
