"""Classifier metrics on real labelled rows with bootstrap intervals, vectorised.

A bootstrap resample is a row of counts (how often each row was drawn). ROC AUC,
average precision, F1, recall and Brier of every resample then come from one sort and
a few cumulative sums, not one scikit-learn call per resample. That is what makes
per-blind-spot intervals affordable: a cycle scores seven models on two sets, each
with a dozen blind spots and 200 resamples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

MIN_RESAMPLES = 20  # fewer defined resamples than this: no interval
MAX_CELLS = 4_000_000  # resample counts held at once (rows x resamples): bounded memory on big batches


def resample_counts(n: int, rounds: int, seed: int) -> np.ndarray:
    """(rounds + 1, n) counts of each row in `rounds` resamples of n rows with
    replacement; row 0 is the sample itself (all ones), so the point estimate comes out
    of the same call and column subsets (one blind spot's rows) keep it."""
    return np.vstack(list(resample_chunks(n, rounds, seed, max_cells=max(n, 1) * (rounds + 1))))


def resample_chunks(n: int, rounds: int, seed: int, max_cells: int = MAX_CELLS) -> Iterator[np.ndarray]:
    """The same counts in chunks of at most `max_cells` cells (the sample itself first)."""
    rng = np.random.default_rng(seed)
    yield np.ones((1, n), dtype=np.int64)
    step = max(1, max_cells // max(n, 1))
    for start in range(0, rounds, step):
        k = min(step, rounds - start)
        drawn = rng.integers(0, n, (k, n)) + (np.arange(k) * n)[:, None]
        yield np.bincount(drawn.ravel(), minlength=k * n).reshape(k, n)


def _grouped(w: np.ndarray, y: np.ndarray, order: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per group of tied scores, groups in `order` (the
    weights are counts: every sum is exact, so negatives are all minus positives)."""
    ordered = w[:, order]
    positives = np.add.reduceat(ordered * y[order], starts, axis=1)
    return positives, np.add.reduceat(ordered, starts, axis=1) - positives


def _ties(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sort order of the scores and where each run of tied scores starts in it."""
    order = np.argsort(scores, kind="mergesort")
    ranked = scores[order]
    return order, np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])


def roc_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC AUC per row of weights (Mann-Whitney, ties count half); NaN for a single class."""
    if not len(y):
        return np.full(len(w), np.nan)
    pos, neg = _grouped(w, y, *_ties(p))
    below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), (pos * (below + neg / 2)).sum(axis=1) / (n_pos * n_neg), np.nan)


def average_precision(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Average precision (scikit-learn's step definition) per row of weights; NaN for a single class."""
    if not len(y):
        return np.full(len(w), np.nan)
    pos, neg = _grouped(w, y, *_ties(-p))  # highest scores first
    tp, flagged = np.cumsum(pos, axis=1), np.cumsum(pos + neg, axis=1)
    precision = np.divide(tp, flagged, out=np.zeros_like(tp, dtype=float), where=flagged > 0)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), (pos * precision).sum(axis=1) / n_pos, np.nan)


def f1_recall(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1 (0 when nothing is positive or flagged) and recall of the positive class (NaN
    without positives) per row of weights."""
    tp, fp, fn = w @ (y * pred), w @ ((1 - y) * pred), w @ (y * (1 - pred))
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
    return f1, recall


def brier(y: np.ndarray, q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean squared error of calibrated probabilities `q` per row of weights."""
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, w @ (q - y) ** 2 / total, np.nan)


def point_and_interval(values: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """(value on the sample itself, 2.5% and 97.5% percentiles over the resamples)."""
    point = None if not np.isfinite(values[0]) else float(values[0])
    rest = values[1:][np.isfinite(values[1:])]
    if point is None or rest.size < MIN_RESAMPLES:
        return point, None, None
    low, high = np.percentile(rest, [2.5, 97.5])
    return point, float(low), float(high)


def metric_values(
    y: np.ndarray, p: np.ndarray, pred: np.ndarray, w: np.ndarray, q: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every metric per row of weights: ROC AUC, PR AUC, F1, recall, and Brier on
    calibrated probabilities `q` when given."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    f1, recall = f1_recall(y, pred, w)
    out = {"auc": roc_auc(y, p, w), "pr_auc": average_precision(y, p, w), "f1": f1, "recall": recall}
    if q is not None:
        out["brier"] = brier(y, q, w)
    return out


def classifier_metrics(
    y: np.ndarray, p: np.ndarray, pred: np.ndarray, w: np.ndarray, q: np.ndarray | None = None
) -> dict[str, tuple[float | None, float | None, float | None]]:
    """Every metric as (value, low, high) from one weights matrix whose row 0 is the sample."""
    return {k: point_and_interval(v) for k, v in metric_values(y, p, pred, w, q).items()}
