"""The statistics and the walk that turn counted slices into reported ones: intervals,
empirical-Bayes shrinkage, replication odds, SliceLine's score, and the selection that
drops a slice a simpler parent explains or a better one overlaps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from factory.core.base.types import BlindSpot, Condition, conditions_mask

SLICELINE_ALPHA = 0.95  # SliceLine's weight of error lift against slice size
REDUNDANT = 0.95  # a parent whose lift lower bound reaches this share of its child's explains it
JACCARD = 0.5  # overlap above which a lower-ranked slice is a duplicate


def wilson(k: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def prior_strength(errors: np.ndarray, support: np.ndarray, overall: float) -> float:
    """Empirical-Bayes Beta prior around the overall rate, in pseudo-rows: the less
    slices' rates vary beyond binomial noise, the harder every slice is shrunk."""
    if len(support) == 0 or overall in (0.0, 1.0):
        return 100.0
    rates = errors / support
    excess = np.mean((rates - overall) ** 2 - overall * (1 - overall) / support)
    if excess <= 0:
        return 1e4
    return float(np.clip(overall * (1 - overall) / excess - 1, 10.0, 1e4))


def shrunk_lift(errors: np.ndarray, support: np.ndarray, overall: float, strength: float) -> np.ndarray:
    """Posterior mean error rate under the Beta prior, as a lift."""
    return (errors + strength * overall) / (support + strength) / overall


def replication_probability(
    errors: np.ndarray, support: np.ndarray, overall: float, strength: float, z: float = 1.96
) -> np.ndarray:
    """Posterior predictive probability that a fresh sample of the slice's size shows
    its error rate above `overall` at the 95% level (the interval excludes lift 1):
    beta-binomial under the same empirical-Bayes prior the shrunk lift uses. A slice
    just past BH has about even odds of replicating; a big, sure one close to 1."""
    k, m = np.asarray(errors, dtype=float), np.asarray(support, dtype=float)
    needed = np.floor(m * overall + z * np.sqrt(m * overall * (1 - overall)))  # errors a replicate must exceed
    return stats.betabinom.sf(needed, m.astype(int), k + strength * overall, m - k + strength * (1 - overall))


def sliceline_score(
    rate: np.ndarray, overall: float, support: np.ndarray, n: int, alpha: float = SLICELINE_ALPHA
) -> np.ndarray:
    """SliceLine's score: alpha * (error lift - 1) - (1 - alpha) * (n / size - 1)."""
    return alpha * (rate / overall - 1) - (1 - alpha) * (n / support - 1)


def child_can_be_significant(parent_errors: np.ndarray, min_support: int, overall: float, alpha: float) -> np.ndarray:
    """SliceLine-style bound: a child has >= min_support rows and at most the parent's
    errors, so its smallest possible p-value is that of max(errors, min_support) rows
    holding all of them. If even that is above alpha no child can be a blind spot."""
    e = np.asarray(parent_errors, dtype=float)
    best = stats.binom.sf(e - 1, np.maximum(e, min_support), overall)
    return best <= alpha


def predicate_columns(conditions: tuple[Condition, ...]) -> list[str]:
    return list(dict.fromkeys(c.column for c in conditions))


def on_columns(conditions: tuple[Condition, ...], columns: tuple[str, ...]) -> tuple[Condition, ...]:
    return tuple(c for c in conditions if c.column in columns)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def select_slices(
    table: pd.DataFrame,
    frame: pd.DataFrame,
    limit: int,
    build: Callable[[object], BlindSpot],
    worse: Callable[[object, object], bool],
    miss: pd.Series | None = None,
    max_miss: float = 1.0,
    masks: list[np.ndarray] | None = None,
) -> list[BlindSpot]:
    """Walk `table` (significant slices, best `rank` first): drop a slice that a
    simpler significant parent explains (the parent's `lift_low` reaches REDUNDANT x
    its own, or the slice is not significantly `worse` than the parent), or one
    overlapping a slice already chosen; stop at `limit`. Without the second rule a
    noisy refinement of a real slice (one more condition, a few lucky rows) outranks
    it. `miss`: each slice's probability of not replicating; a slice is skipped when it
    would lift the chosen slices' mean above `max_miss` (a Bayesian false-discovery
    bound on what is reported). `masks`: rows of slices chosen before (another
    metric's), extended in place."""
    rows = {r.conditions: r for r in table.itertuples()}
    chosen: list[BlindSpot] = []
    masks = [] if masks is None else masks
    missed = 0.0
    for r in table.itertuples():
        if miss is not None and missed + miss[r.Index] > max_miss * (len(chosen) + 1):
            continue
        columns = predicate_columns(r.conditions)
        parents = [
            rows.get(on_columns(r.conditions, cols))
            for k in range(1, len(columns))
            for cols in combinations(columns, k)
        ]
        if any(p is not None and (p.lift_low >= REDUNDANT * r.lift_low or not worse(r, p)) for p in parents):
            continue
        spot = build(r)
        mask = spot.mask(frame).to_numpy()
        if any(_jaccard(mask, other) >= JACCARD for other in masks):
            continue
        chosen.append(spot)
        masks.append(mask)
        missed += 0.0 if miss is None else miss[r.Index]
        if len(chosen) == limit:
            break
    return chosen


def children_counts(
    slices: Iterable[tuple[str, tuple[Condition, ...]]],
) -> dict[tuple[str, tuple[Condition, ...]], int]:
    """How many of these (metric, conditions) slices refine each simpler slice of the
    same metric (the same conditions on fewer columns)."""
    counts: dict[tuple[str, tuple[Condition, ...]], int] = {}
    for metric, conds in slices:
        columns = predicate_columns(conds)
        for k in range(1, len(columns)):
            for cols in combinations(columns, k):
                parent = (metric, on_columns(conds, cols))
                counts[parent] = counts.get(parent, 0) + 1
    return counts


def support_in(conditions: tuple[Condition, ...], df: pd.DataFrame | None) -> int:
    return int(conditions_mask(conditions, df).sum()) if df is not None and len(df) else 0
