"""The reference profile: statistics of the training world computed once and reused
for every batch (drift tests, validation ranges and category sets, slice bins)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.core.dataset import content_hash
from factory.core.spec import DatasetSpec
from factory.core.types import ColumnProfile, ReferenceProfile

MAX_CATEGORIES = 200


def profile_reference(reference: pd.DataFrame, spec: DatasetSpec, bins: int = 10) -> ReferenceProfile:
    """Quantile bins and category shares of every feature in the reference period."""
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
            )
        )
    target = reference[spec.target].dropna()
    return ReferenceProfile(
        rows=len(reference),
        content_hash=content_hash(reference),
        columns=tuple(columns),
        positive_rate=float(target.mean()) if len(target) else float("nan"),
    )


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
