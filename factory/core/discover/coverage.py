"""Label-free blind spots: coverage gaps (production dense where training is thin) and
low-confidence regions (where the champion is unsure).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from factory.core.base.spec import DatasetSpec
from factory.core.base.types import BlindSpot, ReferenceProfile
from factory.core.discover.ranking import (
    select_slices,
    sliceline_score,
    support_in,
    wilson,
)
from factory.core.discover.scan import SliceSearch, encode, scan

MIN_COVERAGE_RATIO = 2.0  # lower bound of production share / training share for a coverage gap


def find_coverage_gaps(
    production: pd.DataFrame,
    training: pd.DataFrame,
    spec: DatasetSpec,
    profile: ReferenceProfile,
    proba: np.ndarray | None = None,
    min_ratio: float = MIN_COVERAGE_RATIO,
) -> SliceSearch:
    """Slices whose share of the production batch is far above their share of the
    training rows. The test is conditional on the slice's rows in both sets (exact
    binomial); the ranking key is the 95% lower bound of the share ratio. `deficit` is
    how many training rows the slice lacks relative to its production share. The
    label mix comes from the slice's labelled training rows, else the champion's mean
    probability there (`proba`), else the reference positive rate."""
    settings = spec.blind_spots
    n_p, n_t = len(production), len(training)
    if n_p == 0:
        return SliceSearch((), 0, 0, "empty production batch")
    if n_t == 0:
        return SliceSearch((), 0, 0, "no training rows to compare with")
    if n_p < 2 * settings.min_support:
        return SliceSearch((), 0, 0, f"only {n_p} production rows; a slice needs {settings.min_support}")
    cols_p = encode(production, profile)
    cols_t = encode(training, profile, categories_from=production)
    cols = {k: (np.concatenate([cols_p[k][0], cols_t[k][0]]), cols_p[k][1]) for k in cols_p if k in cols_t}
    if not cols:
        return SliceSearch((), 0, 0, "no column has values to slice on")
    y_t = training[spec.target].to_numpy(dtype=float) if spec.target in training.columns else np.full(n_t, np.nan)
    p = np.full(n_p, np.nan) if proba is None else np.asarray(proba, dtype=float)
    weights = {
        "prod": np.r_[np.ones(n_p), np.zeros(n_t)],
        "labelled": np.r_[np.zeros(n_p), ~np.isnan(y_t)].astype(float),
        "positives": np.r_[np.zeros(n_p), np.nan_to_num(y_t)],
        "proba": np.r_[np.nan_to_num(p, nan=0.0), np.zeros(n_t)],
    }
    table = scan(cols, weights, settings.min_support)
    table = table[table["prod"] >= settings.min_support].copy() if len(table) else table
    if table.empty:
        return SliceSearch((), 0, 0, f"no slice reaches the minimum support of {settings.min_support} production rows")
    c_p = table["prod"].to_numpy()
    c_t = table["support"].to_numpy() - c_p
    share_p, share_t = c_p / n_p, c_t / n_t
    table["p_value"] = stats.binom.sf(c_p - 1, c_p + c_t, n_p / (n_p + n_t))
    table["q_value"] = stats.false_discovery_control(table["p_value"].to_numpy())
    low, _ = wilson(c_p, c_p + c_t)
    with np.errstate(divide="ignore"):
        ratio_low = np.where(low < 1, low / np.maximum(1 - low, 1e-12), np.inf) * n_t / n_p
    table["lift"] = share_p / np.maximum(share_t, 0.5 / n_t)
    table["lift_low"] = table["rank"] = ratio_low
    table["train_rows"], table["deficit"] = c_t, np.maximum(np.round(share_p * n_t - c_t), 0)
    table["score"] = sliceline_score(table["lift"].to_numpy(), 1.0, c_p, n_p)
    significant = table[(table["q_value"] <= settings.alpha) & (table["lift_low"] >= min_ratio)]
    significant = significant.sort_values(["rank", "deficit"], ascending=False)

    def build(r) -> BlindSpot:
        if r.labelled >= 10:
            mix = r.positives / r.labelled
        elif proba is not None:
            mix = r.proba / r.prod
        else:
            mix = profile.positive_rate
        return BlindSpot(
            conditions=r.conditions,
            kind="coverage",
            support=int(r.prod),
            errors=0,
            error_rate=float("nan"),
            error_low=float("nan"),
            error_high=float("nan"),
            overall_error=float("nan"),
            lift=float(r.lift),
            p_value=float(r.p_value),
            positive_share=float(mix),
            train_support=int(r.train_rows),
            deficit=int(r.deficit),
            lift_shrunk=float(min(r.lift_low, 1e6)),
            score=float(r.score),
        )

    def worse(child, parent) -> bool:  # denser in production than its parent, given its rows in both
        return stats.binom.sf(child.prod - 1, child.support, parent.prod / parent.support) <= settings.alpha / len(
            significant
        )  # Bonferroni over the candidates

    chosen = select_slices(significant, production, settings.max_slices, build, worse)
    reason = "" if chosen else f"no slice is at least {min_ratio:g}x denser in production than in training"
    return SliceSearch(tuple(chosen), len(table), len(significant), reason)


def find_low_confidence(
    batch: pd.DataFrame,
    proba: np.ndarray,
    spec: DatasetSpec,
    profile: ReferenceProfile,
    reference: pd.DataFrame | None = None,
) -> SliceSearch:
    """Slices where the champion's estimated error, min(p, 1 - p) per row (what a
    calibrated model expects to get wrong at a 0.5 threshold), is significantly above
    its batch mean (one-sided z-test, Benjamini-Hochberg), ranked by the lower bound of
    the lift."""
    settings = spec.blind_spots
    proba = np.asarray(proba, dtype=float)
    if len(proba) != len(batch):
        raise ValueError(f"{len(proba)} probabilities for {len(batch)} rows")
    if len(batch) == 0:
        return SliceSearch((), 0, 0, "empty batch")
    present = ~np.isnan(proba)
    batch, proba = batch[present], proba[present]
    n = len(batch)
    if n < 2 * settings.min_support:
        return SliceSearch((), 0, 0, f"only {n} scored rows; a slice needs {settings.min_support}")
    u = np.minimum(proba, 1 - proba)
    overall, sd = float(u.mean()), float(u.std())
    if overall < 1e-12 or sd < 1e-12:
        return SliceSearch((), 0, 0, "the champion is equally sure of every row")
    cols = encode(batch, profile)
    if not cols:
        return SliceSearch((), 0, 0, "no column has values to slice on")
    table = scan(cols, {"uncertainty": u, "proba": proba}, settings.min_support)
    if table.empty:
        return SliceSearch((), 0, 0, f"no slice reaches the minimum support of {settings.min_support} rows")
    m = table["support"].to_numpy()
    mean = table["uncertainty"].to_numpy() / m
    se = sd / np.sqrt(m) * np.sqrt(np.clip((n - m) / max(n - 1, 1), 1e-12, None))  # finite population
    table["p_value"] = stats.norm.sf((mean - overall) / se)
    table["q_value"] = stats.false_discovery_control(table["p_value"].to_numpy())
    table["error_rate"], table["error_low"], table["error_high"] = mean, mean - 1.96 * se, mean + 1.96 * se
    table["lift_low"] = table["rank"] = (mean - 1.96 * se) / overall
    table["score"] = sliceline_score(mean, overall, m, n)
    significant = table[(table["q_value"] <= settings.alpha) & (table["lift_low"] > 1)]
    significant = significant.sort_values(["rank", "support"], ascending=False)

    def build(r) -> BlindSpot:
        return BlindSpot(
            conditions=r.conditions,
            kind="low_confidence",
            support=int(r.support),
            errors=int(round(r.uncertainty)),
            error_rate=float(r.error_rate),
            error_low=float(r.error_low),
            error_high=float(r.error_high),
            overall_error=overall,
            lift=float(r.error_rate / overall),
            p_value=float(r.p_value),
            positive_share=float(r.proba / r.support),
            train_support=support_in(r.conditions, reference),
            lift_shrunk=float(r.lift_low),
            score=float(r.score),
        )

    def worse(child, parent) -> bool:
        return stats.norm.sf(
            (child.error_rate - parent.error_rate) / (sd / np.sqrt(child.support))
        ) <= settings.alpha / len(significant)  # Bonferroni over the candidates

    chosen = select_slices(significant, batch, settings.max_slices, build, worse)
    reason = "" if chosen else "no slice's estimated error is significantly above the batch mean"
    return SliceSearch(tuple(chosen), len(table), len(significant), reason)
