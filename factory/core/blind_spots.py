"""Blind spots: readable slices of a labelled batch where the model errs far more
than overall. One- and two-condition slices over categorical values and the
reference profile's quantile bins, tested with a one-sided binomial test,
Benjamini-Hochberg across all slices tested, ranked by the lower bound of their lift
(so a small slice's lucky streak does not outrank a large, sure one), and made
non-redundant (a slice whose simpler parent explains it is dropped)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from factory.core.profile import bin_index
from factory.core.spec import DatasetSpec
from factory.core.types import BlindSpot, Condition, ReferenceProfile

MAX_CATEGORY_SLICES = 30  # most frequent values per categorical column


@dataclass(frozen=True)
class SliceSearch:
    """Why discovery found what it found (or nothing)."""

    blind_spots: tuple[BlindSpot, ...]
    tested: int
    significant: int
    reason: str = ""


def _candidates(df: pd.DataFrame, spec: DatasetSpec, profile: ReferenceProfile) -> dict[str, tuple[np.ndarray, list[tuple[Condition, ...]]]]:
    """Per column: an integer code per row and the conditions each code stands for."""
    out = {}
    for cp in profile.columns:
        col = df[cp.name]
        if col.isna().all():
            continue
        if cp.kind == "numeric":
            edges = cp.bin_edges
            codes = bin_index(col, edges)
            conds: list[tuple[Condition, ...]] = []
            for i in range(len(edges) + 1):
                parts = []
                if i > 0:
                    parts.append(Condition(cp.name, ">=", float(edges[i - 1])))
                if i < len(edges):
                    parts.append(Condition(cp.name, "<", float(edges[i])))
                conds.append(tuple(parts))
            codes = np.where(codes < 0, len(conds), codes)
            conds.append((Condition(cp.name, "is_null"),))
        else:
            values = list(col.value_counts().index[:MAX_CATEGORY_SLICES])
            lookup = {v: i for i, v in enumerate(values)}
            codes = col.map(lookup).fillna(-1).astype(int).to_numpy()
            conds = [(Condition(cp.name, "==", v),) for v in values]
            codes = np.where(codes < 0, len(conds), codes)
            conds.append(())  # "other or missing": not a readable slice, never reported
        out[cp.name] = (codes, conds)
    return out


def find_blind_spots(
    labelled: pd.DataFrame,
    errors: np.ndarray,
    spec: DatasetSpec,
    profile: ReferenceProfile,
    reference: pd.DataFrame | None = None,
) -> SliceSearch:
    """Error slices of a labelled batch. `errors` is 1 where the model was wrong."""
    settings = spec.blind_spots
    n = len(labelled)
    if n == 0:
        return SliceSearch((), 0, 0, "no labelled rows")
    if n < 2 * settings.min_support:
        return SliceSearch((), 0, 0, f"only {n} labelled rows; a slice needs {settings.min_support}")
    errors = np.asarray(errors, dtype=int)
    overall = errors.mean()
    if overall == 0:
        return SliceSearch((), 0, 0, "the model made no errors on this batch")
    y = labelled[spec.target].to_numpy(dtype=float)
    candidates = _candidates(labelled, spec, profile)
    rows: list[dict] = []

    names = list(candidates)
    for name in names:
        codes, conds = candidates[name]
        counts = np.bincount(codes, minlength=len(conds))
        err = np.bincount(codes, weights=errors, minlength=len(conds))
        pos = np.bincount(codes, weights=y, minlength=len(conds))
        for code in np.flatnonzero(counts >= settings.min_support):
            if conds[code]:
                rows.append(dict(conditions=conds[code], support=int(counts[code]), errors=int(err[code]), positives=float(pos[code])))
    for a, b in combinations(names, 2):
        codes_a, conds_a = candidates[a]
        codes_b, conds_b = candidates[b]
        width = len(conds_b)
        joint = codes_a * width + codes_b
        counts = np.bincount(joint, minlength=len(conds_a) * width)
        err = np.bincount(joint, weights=errors, minlength=len(conds_a) * width)
        pos = np.bincount(joint, weights=y, minlength=len(conds_a) * width)
        for code in np.flatnonzero(counts >= settings.min_support):
            ca, cb = conds_a[code // width], conds_b[code % width]
            if ca and cb:
                rows.append(dict(conditions=ca + cb, support=int(counts[code]), errors=int(err[code]), positives=float(pos[code])))
    if not rows:
        return SliceSearch((), 0, 0, f"no slice reaches the minimum support of {settings.min_support} rows")

    table = pd.DataFrame(rows)
    k, m = table["errors"].to_numpy(), table["support"].to_numpy()
    table["p_value"] = stats.binom.sf(k - 1, m, overall)
    table["q_value"] = _benjamini_hochberg(table["p_value"].to_numpy())
    low, high = _wilson(k, m)
    table["error_rate"], table["error_low"], table["error_high"] = k / m, low, high
    table["lift_low"] = low / overall
    significant = table[(table["q_value"] <= settings.alpha) & (table["error_rate"] > overall)]
    significant = significant.sort_values(["lift_low", "support"], ascending=False)

    chosen: list[BlindSpot] = []
    chosen_masks: list[np.ndarray] = []
    singles = {r.conditions: r.lift_low for r in significant.itertuples() if _n_columns(r.conditions) == 1}
    for r in significant.itertuples():
        if _n_columns(r.conditions) > 1:
            parents = [_by_column(r.conditions, col) for col in {c.column for c in r.conditions}]
            if any(singles.get(p, 0.0) >= r.lift_low * 0.95 for p in parents):
                continue  # a simpler slice explains it
        spot = BlindSpot(
            conditions=r.conditions,
            kind="error",
            support=int(r.support),
            errors=int(r.errors),
            error_rate=float(r.error_rate),
            error_low=float(r.error_low),
            error_high=float(r.error_high),
            overall_error=float(overall),
            lift=float(r.error_rate / overall),
            p_value=float(r.p_value),
            positive_share=float(r.positives / r.support),
            train_support=int(spot_mask(r.conditions, reference).sum()) if reference is not None else 0,
        )
        mask = spot.mask(labelled).to_numpy()
        if any(_jaccard(mask, other) >= 0.5 for other in chosen_masks):
            continue
        chosen.append(spot)
        chosen_masks.append(mask)
        if len(chosen) == settings.max_slices:
            break
    reason = "" if chosen else "no slice's error rate is significantly above the overall rate"
    return SliceSearch(tuple(chosen), len(table), len(significant), reason)


def spot_mask(conditions: tuple[Condition, ...], df: pd.DataFrame) -> pd.Series:
    m = pd.Series(True, index=df.index)
    for c in conditions:
        m &= c.mask(df)
    return m


def _n_columns(conditions: tuple[Condition, ...]) -> int:
    return len({c.column for c in conditions})


def _by_column(conditions: tuple[Condition, ...], column: str) -> tuple[Condition, ...]:
    return tuple(c for c in conditions if c.column == column)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out = np.empty_like(q)
    out[order] = q
    return out


def _wilson(k: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def blind_spot_table(spots: tuple[BlindSpot, ...] | list[BlindSpot], batch_id: str) -> pd.DataFrame:
    rows = [dict(batch_id=batch_id, **s.as_row()) for s in spots]
    columns = ["batch_id", "blind_spot_id", "predicate", "kind", "support", "errors", "error_rate", "error_low",
               "error_high", "overall_error", "lift", "p_value", "positive_share", "train_support", "conditions"]
    return pd.DataFrame(rows, columns=columns)
