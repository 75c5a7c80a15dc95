"""Drift of a batch against the reference period.

Two paths give the same verdicts. The fast path (`fast_drift`) tests a batch against
the reference *profile* (value counts or a fine quantile sketch, computed once per
reference snapshot) and never touches reference rows; it picks the test per column
exactly as Evidently 0.7 does by default (legacy `_get_default_stattest`):

- reference with <= 1000 non-null values: numeric -> K-S p-value (chi-squared, or Z when
  binary, if there are <= 5 distinct values); categorical -> chi-squared (Z when binary);
- larger references: numeric -> normed Wasserstein (Jensen-Shannon when <= 5 distinct
  values); categorical -> Jensen-Shannon.

p-values drift below the threshold, distances at or above it. The spec may override
the test and threshold per column. Evidently's `Report` (`detect_drift` in monitor.evidently_report) stays the HTML
artefact a person reads; it may run on a sample of a large batch. `prediction_drift`
tests the champion's score distribution the same way; `domain_classifier` measures
multivariate drift (reference vs batch ROC AUC and the features that separate them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory.core.base.errors import FactoryError, SpecError
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import (
    ColumnDrift,
    ColumnProfile,
    DriftReport,
    ReferenceProfile,
)
from factory.core.measure.twosample import two_sample_auc

TESTS = ("ks", "chisquare", "z", "jensenshannon", "wasserstein")
SMALL_REFERENCE = 1000  # Evidently: at most this many reference values -> p-value tests
FEW_VALUES = 5  # Evidently: numeric columns with at most this many distinct values are binned by value
MISSING = "missing"  # verdict without a test: the column is empty on one side


# -- the fast path ----------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """A distribution as distinct values and their weights (counts)."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> float:
        return float(self.counts.sum())


def fast_drift(batch_id: str, current: pd.DataFrame, profile: ReferenceProfile, spec: DatasetSpec) -> DriftReport:
    """Per-column drift of a batch against the stored reference profile."""
    start = time.perf_counter()
    _check_overrides(spec)
    results = []
    for name in spec.numeric + spec.categorical:
        if name not in current.columns:
            raise FactoryError(f"drift: column '{name}' of the spec is missing from batch {batch_id}")
        try:
            ref = profile.column(name)
        except KeyError:
            raise FactoryError(f"drift: column '{name}' has no reference profile; re-snapshot the reference") from None
        override = spec.drift.per_column.get(name, {})
        results.append(
            column_drift(
                current[name],
                ref,
                override.get("test"),
                float(override.get("threshold", spec.drift.stattest_threshold)),
            )
        )
    tested = [r for r in results if r.test != MISSING or r.drifted]
    drifted = tuple(r.column for r in tested if r.drifted)
    return DriftReport(
        batch_id=batch_id,
        rows=len(current),
        drift_share=len(drifted) / len(tested) if tested else 0.0,
        drifted_columns=drifted,
        columns=tuple(results),
        seconds=time.perf_counter() - start,
    )


def column_drift(series: pd.Series, ref: ColumnProfile, test: str | None = None, threshold: float = 0.1) -> ColumnDrift:
    """One column's verdict against its reference sketch (Evidently's rules, see module doc)."""
    name = ref.name
    if ref.count == 0 and ref.null_share < 1:
        raise FactoryError(
            f"drift: the reference profile of column '{name}' has no drift sketch; "
            "re-materialise the reference snapshot"
        )
    cur = current_counts(series, ref.kind, name)
    ref_counts = reference_counts(ref)
    summaries = dict(
        reference_summary=_summary(ref_counts, ref.kind, exact=bool(ref.counts)),
        current_summary=_summary(cur, ref.kind, exact=True),
        reference_null_share=float(ref.null_share),
        current_null_share=float(1 - cur.n / len(series)) if len(series) else None,
    )
    if ref_counts.n == 0 or cur.n == 0:
        side = "reference" if ref_counts.n == 0 else "batch"
        # a column that vanished from the batch has drifted; one empty in the reference cannot be tested
        drifted = ref_counts.n > 0 or cur.n > 0
        return ColumnDrift(
            name, ref.kind, MISSING, 1.0, threshold, drifted, note=f"no non-null values in the {side}", **summaries
        )
    n_values = len(np.union1d(ref_counts.values, cur.values)) if ref.counts else FEW_VALUES + 1
    test = test or default_test(ref.kind, int(ref_counts.n), n_values)
    if test not in TESTS:
        raise SpecError(f"drift: column '{name}': unknown test '{test}' (use one of {TESTS})")
    if ref.kind == "categorical" and test in ("ks", "wasserstein"):
        raise SpecError(f"drift: column '{name}' is categorical; test '{test}' needs numbers")
    score = float(STATISTICS[test](ref_counts, cur, ref))
    drifted = (
        score <= threshold if test == "ks" else score < threshold if test in ("chisquare", "z") else score >= threshold
    )
    unseen = np.setdiff1d(cur.values, ref_counts.values) if ref.kind == "categorical" else np.array([])
    note = (
        f"{len(unseen)} categories never seen in the reference: {', '.join(map(str, unseen[:5]))}"
        if len(unseen)
        else ""
    )
    return ColumnDrift(name, ref.kind, test, score, threshold, bool(drifted), note=note, **summaries)


def default_test(kind: str, n_reference: int, n_values: int) -> str:
    """Evidently 0.7's default test for a column (legacy registry `_get_default_stattest`)."""
    if n_reference <= SMALL_REFERENCE:
        if kind == "numeric" and n_values > FEW_VALUES:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "numeric" and n_values > FEW_VALUES:
        return "wasserstein"
    return "jensenshannon"


def current_counts(series: pd.Series, kind: str, name: str) -> Counts:
    """Value counts of a batch column, nulls and infinities dropped (as Evidently does).
    Counting first and converting the few distinct values after keeps it fast."""
    vc = series.value_counts(dropna=False, sort=False)
    keys, counts = vc.index, vc.to_numpy(dtype=float)
    if kind == "categorical":
        keep = ~pd.isna(keys)
        values = np.array([str(v) for v in keys[keep]], dtype=object)
        return _collapse(values, counts[keep])
    if pd.api.types.is_numeric_dtype(series.dtype):  # distinct already: just sort
        numbers = np.asarray(keys, dtype=float)
        keep = np.isfinite(numbers)
        order = np.argsort(numbers[keep], kind="stable")
        return Counts(numbers[keep][order], counts[keep][order])
    numbers = pd.to_numeric(pd.Series(keys, dtype=object), errors="coerce").to_numpy(dtype=float)
    bad = ~pd.isna(keys) & np.isnan(numbers)
    if bad.any():
        examples = ", ".join(repr(v) for v in list(keys[bad])[:3])
        raise FactoryError(
            f"drift: numeric column '{name}' holds values that are not numbers ({examples}); "
            "fix the batch or declare the column categorical in the spec"
        )
    keep = np.isfinite(numbers)
    return _collapse(numbers[keep], counts[keep])


def _collapse(values: np.ndarray, counts: np.ndarray) -> Counts:
    """Merge equal keys (e.g. '1' and 1.0 both become 1.0) and sort them."""
    if values.size == 0:
        return Counts(values, counts)
    uniq, inverse = np.unique(values, return_inverse=True)
    return Counts(uniq, np.bincount(inverse.ravel(), weights=counts, minlength=len(uniq)).astype(float))


def reference_counts(ref: ColumnProfile) -> Counts:
    """The reference as weighted points: exact counts, or the quantile sketch."""
    if ref.counts:
        dtype = float if ref.kind == "numeric" else object
        values = np.asarray(ref.values, dtype=dtype)
        order = np.argsort(values, kind="stable")
        return Counts(values[order], np.asarray(ref.counts, dtype=float)[order])
    return Counts(np.asarray(ref.quantiles, dtype=float), np.asarray(ref.quantile_weights, dtype=float))


def _aligned(ref: Counts, cur: Counts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of both sides on the union of their values (sorted)."""
    keys = np.union1d(ref.values, cur.values)
    a = np.zeros(keys.size)
    b = np.zeros(keys.size)
    a[np.searchsorted(keys, ref.values)] = ref.counts
    b[np.searchsorted(keys, cur.values)] = cur.counts
    return keys, a, b


def _chisquare(ref: Counts, cur: Counts, _: ColumnProfile) -> float:
    from scipy import stats

    _, r, c = _aligned(ref, cur)
    expected = r * cur.n / ref.n
    if (c[expected == 0] > 0).any():
        return 0.0  # a value never seen in the reference: infinite statistic, p-value 0
    return float(stats.chisquare(c, expected)[1])


def _z(ref: Counts, cur: Counts, _: ColumnProfile) -> float:
    """Two-proportion Z-test on the first (smallest) value, as Evidently computes it."""
    from scipy import stats

    keys, r, c = _aligned(ref, cur)
    if keys.size == 1:
        return 1.0
    p1, p2 = 1 - r[0] / ref.n, 1 - c[0] / cur.n
    pooled = (p1 * ref.n + p2 * cur.n) / (ref.n + cur.n)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / ref.n + 1 / cur.n))
    return float(2 * (1 - stats.norm.cdf(abs(z))))


def _jensenshannon(ref: Counts, cur: Counts, profile: ColumnProfile) -> float:
    """Jensen-Shannon distance of value shares; numeric columns with > 20 reference values
    are binned with Sturges' rule on both samples together, as Evidently does."""
    from scipy.spatial import distance

    if profile.kind == "numeric" and (len(profile.values) > 20 or not profile.counts):
        lo, hi = min(ref.values[0], cur.values[0]), max(ref.values[-1], cur.values[-1])
        edges = np.histogram_bin_edges([lo, hi], bins=int(np.ceil(np.log2(ref.n + cur.n) + 1)))
        r = np.histogram(ref.values, edges, weights=ref.counts)[0]
        c = np.histogram(cur.values, edges, weights=cur.counts)[0]
    else:
        _, r, c = _aligned(ref, cur)
    return float(distance.jensenshannon(r / ref.n, c / cur.n))


def _wasserstein(ref: Counts, cur: Counts, profile: ColumnProfile) -> float:
    """Wasserstein distance divided by the reference std (floored at 0.001, as Evidently)."""
    from scipy import stats

    norm = max(float(profile.std or 0.0), 0.001)
    return float(stats.wasserstein_distance(ref.values, cur.values, ref.counts, cur.counts) / norm)


def _ks(ref: Counts, cur: Counts, profile: ColumnProfile) -> float:
    """K-S p-value. A small reference is rebuilt from its exact counts and scipy runs on
    the samples (exact agreement); otherwise the statistic comes from the two CDFs and
    the p-value from Smirnov's asymptotic distribution (scipy's 'asymp' mode)."""
    from scipy import stats

    if profile.counts and ref.n <= SMALL_REFERENCE:
        return float(
            stats.ks_2samp(
                np.repeat(ref.values, ref.counts.astype(int)), np.repeat(cur.values, cur.counts.astype(int))
            )[1]
        )
    _, r, c = _aligned(ref, cur)
    d = float(np.abs(np.cumsum(r) / ref.n - np.cumsum(c) / cur.n).max())
    m, n = sorted([ref.n, cur.n], reverse=True)
    return float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


STATISTICS = {"ks": _ks, "chisquare": _chisquare, "z": _z, "jensenshannon": _jensenshannon, "wasserstein": _wasserstein}


def _summary(counts: Counts, kind: str, exact: bool) -> str:
    """A short human summary of one side (shown in the tidy table)."""
    if counts.n == 0:
        return "empty"
    if kind == "categorical":
        top = int(np.argmax(counts.counts))
        share = counts.counts[top] / counts.n
        return f"n={counts.n:.0f}, {len(counts.values)} values, top '{counts.values[top]}' {share:.0%}"
    mean = float(np.average(counts.values, weights=counts.counts))
    cdf = np.cumsum(counts.counts) / counts.n
    median = float(counts.values[min(np.searchsorted(cdf, 0.5), len(cdf) - 1)])
    span = f"[{counts.values[0]:.4g}, {counts.values[-1]:.4g}]" if exact else "sketch"
    return f"n={counts.n:.0f}, mean {mean:.4g}, median {median:.4g}, range {span}"


def _check_overrides(spec: DatasetSpec) -> None:
    for column, override in spec.drift.per_column.items():
        if column not in spec.features:
            raise SpecError(f"{spec.spec_path}: drift.per_column names '{column}', which is not a feature")
        unknown = sorted(set(override) - {"test", "threshold"})
        if unknown:
            raise SpecError(
                f"{spec.spec_path}: drift.per_column.{column}: unknown key(s) {unknown}; allowed: ['test', 'threshold']"
            )
        if override.get("test") not in (None, *TESTS):
            raise SpecError(
                f"{spec.spec_path}: drift.per_column.{column}: unknown test '{override['test']}' (use one of {TESTS})"
            )


# -- Evidently: the HTML report (and the reference the fast path is checked against) -----


def prediction_drift(reference_scores: np.ndarray, current_scores: np.ndarray, threshold: float) -> ColumnDrift:
    """Drift of the champion's score distribution, tested like a numeric column."""
    from factory.core.base.profile import drift_sketch

    reference = pd.Series(np.asarray(reference_scores, dtype=float))
    profile = ColumnProfile(
        name="prediction",
        kind="numeric",
        null_share=float(reference.isna().mean()),
        **drift_sketch(reference, "numeric"),
    )
    return column_drift(pd.Series(np.asarray(current_scores, dtype=float)), profile, threshold=threshold)


def domain_classifier(
    reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec, rows: int = 3000, top: int = 5, seed: int = 0
) -> tuple[float | None, tuple[str, ...]]:
    """Multivariate drift: how well a classifier tells reference rows from batch rows
    (0.5 = indistinguishable), and the features that separate them most. Catches joint
    shifts no single column shows."""
    return two_sample_auc(reference, current, spec.numeric, spec.categorical, rows=rows, seed=seed, top=top)
