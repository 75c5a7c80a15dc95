"""Blind spots: readable slices where the model fails (error), where production is
dense and the training data thin (coverage), or where the model is unsure
(low_confidence).

Slices are conjunctions of up to three conditions over categorical values and the
reference profile's quantile bins. Error slices are tested on three rates, each against
its own overall rate: errors over all rows, misses over the positives, false alarms over
the negatives (a model that learnt a slice's labels flipped swaps one kind of error for
the other there, which the overall error rate barely shows). Each rate's slices get a
one-sided binomial test, Benjamini-Hochberg across every slice of every rate, and each
rate reports its own top slices, ranked by their lift shrunk toward 1 by sample size
(empirical Bayes), so that a small slice's lucky streak does not outrank a large, sure
one: raw top-lift slices fade on the next batch. Three-way slices are searched only
below significant or large two-way slices, SliceLine-style:
a child's error count can only drop, so a parent whose errors could not make any
child significant is never expanded. A slice that a simpler parent explains, or that
overlaps a better one (Jaccard >= 0.5), is dropped. Significance is not enough to
report a slice: one just past BH has about even odds of showing again on a fresh
sample, so each slice's posterior predictive probability of replicating (beta-binomial
under the same prior) is computed, and slices are reported only while the expected
share of reported ones that would not replicate stays <= blind_spots.max_false_share. Predicates
that recur across batches (the id hashes the predicate, so this is a join) can be
favoured. Persistence (a slice's lift on the next labelled batch) is written back as a
new table, never into the earlier one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from factory.core.profile import bin_index
from factory.core.spec import DatasetSpec
from factory.core.types import BlindSpot, Condition, ReferenceProfile

MAX_CATEGORY_SLICES = 30  # most frequent values per categorical column
EXPAND_PARENTS = 40  # two-condition slices expanded to three conditions, best first
LARGE_PARENT = 0.05  # a two-condition slice with this share of the batch is expanded even if not significant
SLICELINE_ALPHA = 0.95  # SliceLine's weight of error lift against slice size
REDUNDANT = 0.95  # a parent whose lift lower bound reaches this share of its child's explains it
JACCARD = 0.5  # overlap above which a lower-ranked slice is a duplicate
MIN_COVERAGE_RATIO = 2.0  # lower bound of production share / training share for a coverage gap
RECURRENCE_BOOST = 0.25  # rank multiplier per earlier batch that reported the same predicate (up to 3)
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


# -- encoding and counting -----------------------------------------------------------

def encode(df: pd.DataFrame, profile: ReferenceProfile, categories_from: pd.DataFrame | None = None) -> dict[str, Column]:
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
                rows.append(dict(conditions=conds[code], key=((name, int(code)),), support=int(counts[code]),
                                 **{k: float(v[code]) for k, v in sums.items()}))
    for a, b in combinations(names, 2):
        (codes_a, conds_a), (codes_b, conds_b) = cols[a], cols[b]
        width = len(conds_b)
        counts, sums = _sums(codes_a * width + codes_b, len(conds_a) * width, weights)
        for code in np.flatnonzero(counts >= min_support):
            ca, cb = conds_a[code // width], conds_b[code % width]
            if ca and cb:
                rows.append(dict(conditions=ca + cb, key=((a, int(code // width)), (b, int(code % width))),
                                 support=int(counts[code]), **{k: float(v[code]) for k, v in sums.items()}))
    return pd.DataFrame(rows, columns=["conditions", "key", "support", *weights])


def expand(cols: dict[str, Column], parents: Iterable[tuple], weights: dict[str, np.ndarray], min_support: int) -> pd.DataFrame:
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
                rows.append(dict(conditions=conditions, key=child, support=int(counts[code]),
                                 **{k: float(v[code]) for k, v in sums.items()}))
    return pd.DataFrame(rows, columns=["conditions", "key", "support", *weights])


# -- statistics ---------------------------------------------------------------------

def _benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    if len(p) == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out = np.empty_like(q)
    out[order] = q
    return out


def _wilson(k: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
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


def replication_probability(errors: np.ndarray, support: np.ndarray, overall: float, strength: float,
                            z: float = 1.96) -> np.ndarray:
    """Posterior predictive probability that a fresh sample of the slice's size shows
    its error rate above `overall` at the 95% level (the interval excludes lift 1):
    beta-binomial under the same empirical-Bayes prior the shrunk lift uses. A slice
    just past BH has about even odds of replicating; a big, sure one close to 1."""
    k, m = np.asarray(errors, dtype=float), np.asarray(support, dtype=float)
    needed = np.floor(m * overall + z * np.sqrt(m * overall * (1 - overall)))  # errors a replicate must exceed
    return stats.betabinom.sf(needed, m.astype(int), k + strength * overall, m - k + strength * (1 - overall))


def sliceline_score(rate: np.ndarray, overall: float, support: np.ndarray, n: int, alpha: float = SLICELINE_ALPHA) -> np.ndarray:
    """SliceLine's score: alpha * (error lift - 1) - (1 - alpha) * (n / size - 1)."""
    return alpha * (rate / overall - 1) - (1 - alpha) * (n / support - 1)


def child_can_be_significant(parent_errors: np.ndarray, min_support: int, overall: float, alpha: float) -> np.ndarray:
    """SliceLine-style bound: a child has >= min_support rows and at most the parent's
    errors, so its smallest possible p-value is that of max(errors, min_support) rows
    holding all of them. If even that is above alpha no child can be a blind spot."""
    e = np.asarray(parent_errors, dtype=float)
    best = stats.binom.sf(e - 1, np.maximum(e, min_support), overall)
    return best <= alpha


# -- selection ------------------------------------------------------------------------

def _columns(conditions: tuple[Condition, ...]) -> list[str]:
    return list(dict.fromkeys(c.column for c in conditions))


def _by_columns(conditions: tuple[Condition, ...], columns: tuple[str, ...]) -> tuple[Condition, ...]:
    return tuple(c for c in conditions if c.column in columns)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _select(table: pd.DataFrame, frame: pd.DataFrame, limit: int, build: Callable[[object], BlindSpot],
            worse: Callable[[object, object], bool], miss: pd.Series | None = None, max_miss: float = 1.0,
            masks: list[np.ndarray] | None = None) -> list[BlindSpot]:
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
        columns = _columns(r.conditions)
        parents = [rows.get(_by_columns(r.conditions, cols)) for k in range(1, len(columns)) for cols in combinations(columns, k)]
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


def _children_counts(slices: Iterable[tuple[str, tuple[Condition, ...]]]) -> dict[tuple[str, tuple[Condition, ...]], int]:
    """How many of these (metric, conditions) slices refine each simpler slice of the
    same metric (the same conditions on fewer columns)."""
    counts: dict[tuple[str, tuple[Condition, ...]], int] = {}
    for metric, conds in slices:
        columns = _columns(conds)
        for k in range(1, len(columns)):
            for cols in combinations(columns, k):
                parent = (metric, _by_columns(conds, cols))
                counts[parent] = counts.get(parent, 0) + 1
    return counts


def _stub(conditions: tuple[Condition, ...]) -> BlindSpot:
    return BlindSpot(conditions, "", 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def predicate_id(conditions: tuple[Condition, ...]) -> str:
    """The id a blind spot with these conditions has."""
    return _stub(conditions).id


def _support_in(conditions: tuple[Condition, ...], df: pd.DataFrame | None) -> int:
    return int(spot_mask(conditions, df).sum()) if df is not None and len(df) else 0


# -- error slices ---------------------------------------------------------------------

def find_blind_spots(
    labelled: pd.DataFrame,
    errors: np.ndarray,
    spec: DatasetSpec,
    profile: ReferenceProfile,
    reference: pd.DataFrame | None = None,
    history: Iterable[pd.DataFrame] = (),
    max_conditions: int = 3,
) -> SliceSearch:
    """Error slices of a labelled batch. `errors` is 1 where the model was wrong.
    `history`: earlier batches' blind-spot tables; a predicate they reported ranks higher."""
    settings = spec.blind_spots
    errors = np.asarray(errors, dtype=float)
    if len(errors) != len(labelled):
        raise ValueError(f"{len(errors)} error flags for {len(labelled)} rows")
    if len(labelled) == 0:
        return SliceSearch((), 0, 0, "no labelled rows")
    if spec.target in labelled.columns:
        known = labelled[spec.target].notna().to_numpy()
        if not known.any():
            return SliceSearch((), 0, 0, "no labels in this batch: error slices need labels")
        labelled, errors = labelled[known], errors[known]
    n = len(labelled)
    if n < 2 * settings.min_support:
        return SliceSearch((), 0, 0, f"only {n} labelled rows; a slice needs {settings.min_support}")
    overall = float(errors.mean())
    if overall == 0:
        return SliceSearch((), 0, 0, "the model made no errors on this batch")
    if overall == 1:
        return SliceSearch((), 0, 0, "the model erred on every row: no slice can stand out")
    y = labelled[spec.target].to_numpy(dtype=float) if spec.target in labelled.columns else np.full(n, np.nan)
    cols = encode(labelled, profile)
    if not cols:
        return SliceSearch((), 0, 0, "no column has values to slice on")
    tables = [t for metric in settings.metrics
              if (t := _metric_table(metric, cols, errors, y, settings, max_conditions)) is not None]
    if not tables:
        return SliceSearch((), 0, 0, f"no slice reaches the minimum support of {settings.min_support} rows")
    table = pd.concat(tables, ignore_index=True)
    table["q_value"] = _benjamini_hochberg(table["p_value"].to_numpy())  # across every slice of every metric
    significant = table[(table["q_value"] <= settings.alpha) & (table["error_rate"] > table["overall"])].copy()
    recurrence = recurrence_counts(history)
    significant["recurrence"] = [recurrence.get(predicate_id(c), 0) for c in significant["conditions"]]
    significant["rank"] = significant["lift_shrunk"] * (1 + RECURRENCE_BOOST * significant["recurrence"].clip(upper=3))
    significant = significant.sort_values(["rank", "support"], ascending=False)

    def build(r) -> BlindSpot:
        inside = spot_mask(r.conditions, labelled).to_numpy()
        return BlindSpot(
            conditions=r.conditions, kind="error", support=int(inside.sum()), errors=int(round(r.errors)),
            error_rate=float(r.error_rate), error_low=float(r.error_low), error_high=float(r.error_high),
            overall_error=float(r.overall), lift=float(r.error_rate / r.overall), p_value=float(r.p_value),
            positive_share=float(np.nan_to_num(y[inside]).mean()), train_support=_support_in(r.conditions, reference),
            lift_shrunk=float(r.lift_shrunk), score=float(r.score), recurrence=int(r.recurrence), metric=r.metric,
            replication=float(r.replication),
        )

    children = _children_counts(zip(significant["metric"], significant["conditions"]))

    def worse(child, parent) -> bool:
        """Significantly worse than the parent, Bonferroni over the parent's significant
        children. Over all candidates instead (as the label-free kinds do) dropped nearly
        every child of a significant parent for its broader, weaker rows: on the hotel
        replay the error slices reported then kept a lift of 1.44 on the next batch, 1.52 now."""
        return stats.binom.sf(child.errors - 1, child.support, parent.error_rate) <= settings.alpha / children[(parent.metric, parent.conditions)]

    chosen: list[BlindSpot] = []
    masks: list[np.ndarray] = []
    for metric in settings.metrics:  # each its own top max_slices: lifts over different base rates do not compare
        own = significant[significant["metric"] == metric]
        chosen += _select(own, labelled, settings.max_slices, build, worse, miss=1 - own["replication"],
                          max_miss=settings.max_false_share, masks=masks)
    reason = "" if chosen else (f"no significant slice would replicate with probability {1 - settings.max_false_share:g}" if len(significant)
                                else "no slice's error rate is significantly above the overall rate")
    return SliceSearch(tuple(chosen), len(table), len(significant), reason)


def _metric_table(metric: str, cols: dict[str, Column], errors: np.ndarray, y: np.ndarray, settings,
                  max_conditions: int) -> pd.DataFrame | None:
    """Every slice's error count and statistics for one metric, over the metric's rows
    (all, positives or negatives): None when those rows are too few or the model's
    rate on them is 0 or 1, so no slice can stand out. A model that swaps one class's
    errors for the other's inside a slice (a slice whose labels it learnt flipped)
    barely moves the slice's overall error rate, but its miss or false-alarm rate."""
    label = METRIC_LABEL[metric]
    rows = np.ones(len(errors), dtype=bool) if label is None else y == label
    n = int(rows.sum())
    overall = float(errors[rows].mean()) if n else 0.0
    if n < 2 * settings.min_support or overall in (0.0, 1.0):
        return None
    cols = cols if label is None else {name: (codes[rows], conds) for name, (codes, conds) in cols.items()}
    weights = {"errors": errors[rows]}
    table = scan(cols, weights, settings.min_support)
    if table.empty:
        return None
    table["p_value"] = stats.binom.sf(table["errors"] - 1, table["support"], overall)
    if max_conditions >= 3:
        children = _three_way(table, cols, weights, settings, overall, n)
        if len(children):
            table = pd.concat([table, children], ignore_index=True)
    return _error_stats(table, overall, n).assign(metric=metric, overall=overall)


def _three_way(table: pd.DataFrame, cols: dict[str, Column], weights: dict[str, np.ndarray], settings, overall: float, n: int) -> pd.DataFrame:
    """Children of the best significant or large two-condition slices whose error
    count leaves room for a significant child."""
    two = table[table["key"].map(len) == 2]
    q = pd.Series(_benjamini_hochberg(table["p_value"].to_numpy()), index=table.index)[two.index]
    rate = two["errors"] / two["support"]
    worth = ((q <= settings.alpha) & (rate > overall)) | (two["support"] >= LARGE_PARENT * n)
    worth &= child_can_be_significant(two["errors"].to_numpy(), settings.min_support, overall, settings.alpha)
    parents = two[worth].assign(score=sliceline_score(rate[worth], overall, two["support"][worth], n))
    parents = parents.sort_values("score", ascending=False).head(EXPAND_PARENTS)
    children = expand(cols, parents["key"], weights, settings.min_support)
    children["p_value"] = stats.binom.sf(children["errors"] - 1, children["support"], overall) if len(children) else []
    return children


def _error_stats(table: pd.DataFrame, overall: float, n: int) -> pd.DataFrame:
    k, m = table["errors"].to_numpy(), table["support"].to_numpy()
    low, high = _wilson(k, m)
    table["error_rate"], table["error_low"], table["error_high"] = k / m, low, high
    table["lift_low"] = low / overall
    singles = table["key"].map(len) == 1
    strength = prior_strength(k[singles], m[singles], overall)
    table["lift_shrunk"] = shrunk_lift(k, m, overall, strength)
    table["replication"] = replication_probability(k, m, overall, strength)
    table["score"] = sliceline_score(k / m, overall, m, n)
    return table


# -- coverage gaps (no labels needed) -------------------------------------------------

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
    table["q_value"] = _benjamini_hochberg(table["p_value"].to_numpy())
    low, _ = _wilson(c_p, c_p + c_t)
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
            conditions=r.conditions, kind="coverage", support=int(r.prod), errors=0, error_rate=float("nan"),
            error_low=float("nan"), error_high=float("nan"), overall_error=float("nan"), lift=float(r.lift),
            p_value=float(r.p_value), positive_share=float(mix), train_support=int(r.train_rows),
            deficit=int(r.deficit), lift_shrunk=float(min(r.lift_low, 1e6)), score=float(r.score),
        )

    def worse(child, parent) -> bool:  # denser in production than its parent, given its rows in both
        return stats.binom.sf(child.prod - 1, child.support, parent.prod / parent.support) <= settings.alpha / len(significant)  # Bonferroni over the candidates

    chosen = _select(significant, production, settings.max_slices, build, worse)
    reason = "" if chosen else f"no slice is at least {min_ratio:g}x denser in production than in training"
    return SliceSearch(tuple(chosen), len(table), len(significant), reason)


# -- low-confidence regions (no labels needed) ----------------------------------------

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
    table["q_value"] = _benjamini_hochberg(table["p_value"].to_numpy())
    table["error_rate"], table["error_low"], table["error_high"] = mean, mean - 1.96 * se, mean + 1.96 * se
    table["lift_low"] = table["rank"] = (mean - 1.96 * se) / overall
    table["score"] = sliceline_score(mean, overall, m, n)
    significant = table[(table["q_value"] <= settings.alpha) & (table["lift_low"] > 1)]
    significant = significant.sort_values(["rank", "support"], ascending=False)

    def build(r) -> BlindSpot:
        return BlindSpot(
            conditions=r.conditions, kind="low_confidence", support=int(r.support), errors=int(round(r.uncertainty)),
            error_rate=float(r.error_rate), error_low=float(r.error_low), error_high=float(r.error_high),
            overall_error=overall, lift=float(r.error_rate / overall), p_value=float(r.p_value),
            positive_share=float(r.proba / r.support), train_support=_support_in(r.conditions, reference),
            lift_shrunk=float(r.lift_low), score=float(r.score),
        )

    def worse(child, parent) -> bool:
        return stats.norm.sf((child.error_rate - parent.error_rate) / (sd / np.sqrt(child.support))) <= settings.alpha / len(significant)  # Bonferroni over the candidates

    chosen = _select(significant, batch, settings.max_slices, build, worse)
    reason = "" if chosen else "no slice's estimated error is significantly above the batch mean"
    return SliceSearch(tuple(chosen), len(table), len(significant), reason)


# -- persistence across batches -------------------------------------------------------

def recurrence_counts(history: Iterable[pd.DataFrame]) -> dict[str, int]:
    """How many earlier batches reported each blind-spot id (a join on the stable id).
    The id names the predicate, not the metric: a region that failed as a miss slice
    last month and as an error slice now is one region failing again."""
    counts: dict[str, int] = {}
    for table in history:
        if table is None or not len(table) or "blind_spot_id" not in table.columns:
            continue
        for spot_id in set(table["blind_spot_id"]):
            counts[spot_id] = counts.get(spot_id, 0) + 1
    return counts


def slice_lift(spot: BlindSpot, labelled: pd.DataFrame, errors: np.ndarray, target: str) -> float | None:
    """The lift of a slice's metric on another labelled set (None when the slice has
    none of the metric's rows there)."""
    errors = np.asarray(errors, dtype=float)
    label = METRIC_LABEL[spot.metric]
    rows = np.ones(len(errors), dtype=bool) if label is None else labelled[target].to_numpy(dtype=float) == label
    mask = spot.mask(labelled).to_numpy() & rows
    overall = errors[rows].mean() if rows.any() else 0.0
    if not mask.any() or overall == 0:
        return None
    return float(errors[mask].mean() / overall)


def table_conditions(text: str) -> tuple[Condition, ...]:
    """The predicate of a stored blind-spot row (its `conditions` column) as data."""
    return tuple(Condition(**c) for c in json.loads(text))


def persistence_table(earlier: pd.DataFrame, labelled: pd.DataFrame, errors: np.ndarray, target: str,
                      measured_on: str) -> pd.DataFrame:
    """An earlier batch's stored blind spots with `persistence` filled in: each slice's
    lift (of its own metric) on a later labelled batch (`measured_on`). A new table:
    the earlier one is never rewritten."""
    out = earlier.copy()
    metrics = out["metric"] if "metric" in out.columns else pd.Series("error", index=out.index)
    lifts = [slice_lift(replace(_stub(table_conditions(c)), metric=m), labelled, errors, target)
             for c, m in zip(out["conditions"], metrics)]
    out["persistence"] = pd.Series(lifts, index=out.index, dtype=float)
    out["measured_on"] = measured_on
    return out


def with_persistence(spots: Iterable[BlindSpot], next_labelled: pd.DataFrame, next_errors: np.ndarray,
                     target: str) -> tuple[BlindSpot, ...]:
    """Persistence: each reported slice's lift (of its own metric) on the next labelled batch."""
    return tuple(replace(s, persistence=slice_lift(s, next_labelled, next_errors, target)) for s in spots)


# -- persistence of the result --------------------------------------------------------

def spot_mask(conditions: tuple[Condition, ...], df: pd.DataFrame) -> pd.Series:
    m = pd.Series(True, index=df.index)
    for c in conditions:
        m &= c.mask(df)
    return m


TABLE_COLUMNS = ["batch_id", "blind_spot_id", "predicate", "kind", "support", "errors", "error_rate", "error_low",
                 "error_high", "overall_error", "lift", "p_value", "positive_share", "train_support", "conditions",
                 "deficit", "lift_shrunk", "score", "recurrence", "persistence", "metric", "replication"]


def blind_spot_table(spots: tuple[BlindSpot, ...] | list[BlindSpot], batch_id: str) -> pd.DataFrame:
    rows = [dict(batch_id=batch_id, **s.as_row()) for s in spots]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["persistence"] = table["persistence"].astype(float)
    table["replication"] = table["replication"].astype(float)
    return table
