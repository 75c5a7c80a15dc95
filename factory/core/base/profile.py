"""The reference profile: statistics of the training world computed once and reused
for every batch (drift tests, validation ranges and category sets, slice bins)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.core.base.dataset import BATCH, content_hash
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import ColumnProfile, ReferenceProfile

MAX_CATEGORIES = 200
EXACT_VALUES = 1000  # up to this many distinct values the drift sketch keeps exact counts
SKETCH_QUANTILES = 1000  # otherwise this many quantiles of the middle (normed Wasserstein, KS) ...
SKETCH_TAIL = 100  # ... between this many exact extreme values at each end (outliers dominate Wasserstein)


def profile_reference(reference: pd.DataFrame, spec: DatasetSpec) -> ReferenceProfile:
    """Quantile bins and category shares of every feature in the reference period. The bins
    are the grid blind spots are searched on: `blind_spots.numeric_bins` of them, nothing else."""
    bins = spec.blind_spots.numeric_bins
    columns = []
    for name in spec.numeric:
        values = reference[name].astype(float)
        present = values.dropna()
        edges = _quantile_edges(present, bins)
        shares = _bin_shares(present, edges)
        columns.append(
            ColumnProfile(
                name=name,
                kind="numeric",
                null_share=float(values.isna().mean()),
                min=float(present.min()) if len(present) else None,
                max=float(present.max()) if len(present) else None,
                bin_edges=tuple(float(e) for e in edges),
                bin_shares=tuple(float(s) for s in shares),
                **drift_sketch(values, "numeric"),
            )
        )
    for name in spec.categorical:
        values = reference[name]
        counts = values.value_counts(dropna=True)
        total = max(int(counts.sum()), 1)
        top = counts.head(MAX_CATEGORIES)
        columns.append(
            ColumnProfile(
                name=name,
                kind="categorical",
                null_share=float(values.isna().mean()),
                categories=tuple(str(c) for c in top.index),
                category_shares=tuple(float(n / total) for n in top.values),
                **drift_sketch(values, "categorical"),
            )
        )
    target = reference[spec.target].dropna()
    batches = [b for _, b in reference.groupby(BATCH, sort=False)] if BATCH in reference else [reference]
    return ReferenceProfile(
        rows=len(reference),
        content_hash=content_hash(reference),
        columns=tuple(columns),
        positive_rate=float(target.mean()) if len(target) else float("nan"),
        max_batch_rows=max(len(b) for b in batches),
        duplicate_share=max(duplicate_share(b, spec) for b in batches),
    )


def duplicate_share(rows: pd.DataFrame, spec: DatasetSpec) -> float:
    """Share of rows that repeat an earlier row of the same batch (group bookings do)."""
    columns = [c for c in (*spec.features, *spec.time_columns, spec.target) if c in rows.columns]
    return float(rows.duplicated(columns).mean()) if len(rows) else 0.0


def _quantile_edges(values: pd.Series, bins: int) -> np.ndarray:
    """Distinct inner cut points; heavy modes collapse bins rather than split a value."""
    if values.empty:
        return np.array([])
    qs = np.quantile(values.to_numpy(), np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(qs)
    return edges[edges > values.min()]


def _bin_shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values.to_numpy(), side="right"), minlength=len(edges) + 1)
    return counts / max(counts.sum(), 1)


def bin_index(values: pd.Series, edges: tuple[float, ...]) -> np.ndarray:
    """The bin of each value (bin i is [edges[i-1], edges[i])); -1 for missing."""
    arr = values.to_numpy(dtype=float)
    idx = np.searchsorted(np.asarray(edges), arr, side="right")
    return np.where(np.isnan(arr), -1, idx)


def drift_sketch(values: pd.Series, kind: str) -> dict:
    """What the drift fast path needs of a reference column, as Evidently sees it (nulls
    and infinities dropped): exact value counts when there are few distinct values,
    else the mean, std and a fine quantile sketch. Computed once per reference snapshot."""
    if kind == "numeric":
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        arr = arr[np.isfinite(arr)]
        counts = pd.Series(arr).value_counts(sort=False).sort_index()
        out: dict = dict(
            count=int(arr.size),
            mean=float(arr.mean()) if arr.size else None,
            std=float(arr.std()) if arr.size else None,
        )
        if len(counts) <= EXACT_VALUES:
            return out | dict(values=tuple(float(v) for v in counts.index), counts=tuple(int(n) for n in counts.values))
        arr = np.sort(arr)
        middle = arr[SKETCH_TAIL : arr.size - SKETCH_TAIL]
        probs = (np.arange(SKETCH_QUANTILES) + 0.5) / SKETCH_QUANTILES
        points = np.r_[arr[:SKETCH_TAIL], np.quantile(middle, probs), arr[arr.size - SKETCH_TAIL :]]
        weights = np.r_[
            np.ones(SKETCH_TAIL), np.full(SKETCH_QUANTILES, middle.size / SKETCH_QUANTILES), np.ones(SKETCH_TAIL)
        ]
        return out | dict(quantiles=tuple(float(q) for q in points), quantile_weights=tuple(float(w) for w in weights))
    counts = values.dropna().astype(str).value_counts()
    return dict(
        count=int(counts.sum()), values=tuple(str(v) for v in counts.index), counts=tuple(int(n) for n in counts.values)
    )
