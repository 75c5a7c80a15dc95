"""Slices as integer codes: every readable 1- and 2-condition slice counted with one
bincount per column pair, three-condition children below chosen parents.

Why not the `sliceline` package: it searches the same lattice but was measured slower on
hotel batches than this bincount scan (`benchmarks/blind_spots.py` runs both, with the
`bench` extra), and it scores one error rate where discovery tests three (error, miss,
false alarm) with their own statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from factory.core.base.profile import bin_index
from factory.core.base.types import BlindSpot, Condition, ReferenceProfile

MAX_CATEGORY_SLICES = 30  # most frequent values per categorical column


# an error slice's rate is over all its rows ("error"), its positives ("miss": the model
# missed them) or its negatives ("false_alarm": the model flagged them)
METRIC_LABEL = {"error": None, "miss": 1, "false_alarm": 0}
Column = tuple[np.ndarray, list[tuple[Condition, ...]]]


@dataclass(frozen=True)
class SliceSearch:
    """Why discovery found what it found (or nothing)."""

    blind_spots: tuple[BlindSpot, ...]
    tested: int
    significant: int
    reason: str = ""


def encode(
    df: pd.DataFrame, profile: ReferenceProfile, categories_from: pd.DataFrame | None = None
) -> dict[str, Column]:
    """Per column: an integer code per row and the conditions each code stands for.
    Numeric columns use the profile's quantile bins (plus a missing bin); categorical
    columns their most frequent values in `categories_from` (default: `df`), the rest
    in an unreadable "other" code that is never reported."""
    source = df if categories_from is None else categories_from
    out: dict[str, Column] = {}
    for cp in profile.columns:
        if cp.name not in df.columns or cp.name not in source.columns or source[cp.name].isna().all():
            continue  # all missing: nothing readable to slice on
        col = df[cp.name]
        if cp.kind == "numeric":
            edges = cp.bin_edges
            codes = bin_index(pd.to_numeric(col, errors="coerce"), edges)
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
            values = list(source[cp.name].value_counts().index[:MAX_CATEGORY_SLICES])
            lookup = {v: i for i, v in enumerate(values)}
            codes = col.map(lookup).fillna(-1).astype(int).to_numpy()
            conds = [(Condition(cp.name, "==", v),) for v in values]
            codes = np.where(codes < 0, len(conds), codes)
            conds.append(())  # "other or missing": not a readable slice, never reported
        out[cp.name] = (codes.astype(np.int64), conds)
    return out


def _sums(codes: np.ndarray, size: int, weights: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    counts = np.bincount(codes, minlength=size)
    return counts, {k: np.bincount(codes, weights=w, minlength=size) for k, w in weights.items()}


def scan(cols: dict[str, Column], weights: dict[str, np.ndarray], min_support: int) -> pd.DataFrame:
    """Support and weight sums of every readable 1- and 2-condition slice with at
    least `min_support` rows: one bincount per column pair."""
    rows: list[dict] = []
    names = list(cols)
    for name in names:
        codes, conds = cols[name]
        counts, sums = _sums(codes, len(conds), weights)
        for code in np.flatnonzero(counts >= min_support):
            if conds[code]:
                rows.append(
                    dict(
                        conditions=conds[code],
                        key=((name, int(code)),),
                        support=int(counts[code]),
                        **{k: float(v[code]) for k, v in sums.items()},
                    )
                )
    for a, b in combinations(names, 2):
        (codes_a, conds_a), (codes_b, conds_b) = cols[a], cols[b]
        width = len(conds_b)
        counts, sums = _sums(codes_a * width + codes_b, len(conds_a) * width, weights)
        for code in np.flatnonzero(counts >= min_support):
            ca, cb = conds_a[code // width], conds_b[code % width]
            if ca and cb:
                rows.append(
                    dict(
                        conditions=ca + cb,
                        key=((a, int(code // width)), (b, int(code % width))),
                        support=int(counts[code]),
                        **{k: float(v[code]) for k, v in sums.items()},
                    )
                )
    return pd.DataFrame(rows, columns=["conditions", "key", "support", *weights])


def expand(
    cols: dict[str, Column], parents: Iterable[tuple], weights: dict[str, np.ndarray], min_support: int
) -> pd.DataFrame:
    """Three-condition children of the given two-condition slices (by key), each
    counted once, conditions in profile column order (so the id is stable)."""
    order = {name: i for i, name in enumerate(cols)}
    seen: set[tuple] = set()
    rows: list[dict] = []
    for key in parents:
        inside = np.ones(len(next(iter(cols.values()))[0]), dtype=bool)
        for name, code in key:
            inside &= cols[name][0] == code
        idx = np.flatnonzero(inside)
        if len(idx) < min_support:
            continue
        used = {name for name, _ in key}
        for name in cols:
            if name in used:
                continue
            codes, conds = cols[name]
            counts, sums = _sums(codes[idx], len(conds), {k: w[idx] for k, w in weights.items()})
            for code in np.flatnonzero(counts >= min_support):
                if not conds[code]:
                    continue
                child = tuple(sorted(key + ((name, int(code)),), key=lambda t: order[t[0]]))
                if child in seen:
                    continue
                seen.add(child)
                conditions = tuple(c for n, k in child for c in cols[n][1][k])
                rows.append(
                    dict(
                        conditions=conditions,
                        key=child,
                        support=int(counts[code]),
                        **{k: float(v[code]) for k, v in sums.items()},
                    )
                )
    return pd.DataFrame(rows, columns=["conditions", "key", "support", *weights])
