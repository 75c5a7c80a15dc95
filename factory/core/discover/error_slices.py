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

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from factory.core.base.spec import DatasetSpec
from factory.core.base.types import BlindSpot, ReferenceProfile, conditions_mask
from factory.core.discover.persistence import predicate_id, recurrence_counts
from factory.core.discover.ranking import (
    child_can_be_significant,
    children_counts,
    prior_strength,
    replication_probability,
    select_slices,
    shrunk_lift,
    sliceline_score,
    support_in,
    wilson,
)
from factory.core.discover.scan import (
    METRIC_LABEL,
    Column,
    SliceSearch,
    encode,
    expand,
    scan,
)

EXPAND_PARENTS = 40  # two-condition slices expanded to three conditions, best first
LARGE_PARENT = 0.05  # a two-condition slice with this share of the batch is expanded even if not significant
RECURRENCE_BOOST = 0.25  # rank multiplier per earlier batch that reported the same predicate (up to 3)


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
    tables = [
        t
        for metric in settings.metrics
        if (t := _metric_table(metric, cols, errors, y, settings, max_conditions)) is not None
    ]
    if not tables:
        return SliceSearch((), 0, 0, f"no slice reaches the minimum support of {settings.min_support} rows")
    table = pd.concat(tables, ignore_index=True)
    table["q_value"] = stats.false_discovery_control(table["p_value"].to_numpy())  # across every slice of every metric
    significant = table[(table["q_value"] <= settings.alpha) & (table["error_rate"] > table["overall"])].copy()
    recurrence = recurrence_counts(history)
    significant["recurrence"] = [recurrence.get(predicate_id(c), 0) for c in significant["conditions"]]
    significant["rank"] = significant["lift_shrunk"] * (1 + RECURRENCE_BOOST * significant["recurrence"].clip(upper=3))
    significant = significant.sort_values(["rank", "support"], ascending=False)

    def build(r) -> BlindSpot:
        inside = conditions_mask(r.conditions, labelled).to_numpy()
        return BlindSpot(
            conditions=r.conditions,
            kind="error",
            support=int(inside.sum()),
            errors=int(round(r.errors)),
            error_rate=float(r.error_rate),
            error_low=float(r.error_low),
            error_high=float(r.error_high),
            overall_error=float(r.overall),
            lift=float(r.error_rate / r.overall),
            p_value=float(r.p_value),
            positive_share=float(np.nan_to_num(y[inside]).mean()),
            train_support=support_in(r.conditions, reference),
            lift_shrunk=float(r.lift_shrunk),
            score=float(r.score),
            recurrence=int(r.recurrence),
            metric=r.metric,
            replication=float(r.replication),
        )

    children = children_counts(zip(significant["metric"], significant["conditions"]))

    def worse(child, parent) -> bool:
        """Significantly worse than the parent, Bonferroni over the parent's significant
        children. Over all candidates instead (as the label-free kinds do) dropped nearly
        every child of a significant parent for its broader, weaker rows: on the hotel
        replay the error slices reported then kept a lift of 1.44 on the next batch, 1.52 now."""
        return (
            stats.binom.sf(child.errors - 1, child.support, parent.error_rate)
            <= settings.alpha / children[(parent.metric, parent.conditions)]
        )

    chosen: list[BlindSpot] = []
    masks: list[np.ndarray] = []
    for metric in settings.metrics:  # each its own top max_slices: lifts over different base rates do not compare
        own = significant[significant["metric"] == metric]
        chosen += select_slices(
            own,
            labelled,
            settings.max_slices,
            build,
            worse,
            miss=1 - own["replication"],
            max_miss=settings.max_false_share,
            masks=masks,
        )
    reason = (
        ""
        if chosen
        else (
            f"no significant slice would replicate with probability {1 - settings.max_false_share:g}"
            if len(significant)
            else "no slice's error rate is significantly above the overall rate"
        )
    )
    return SliceSearch(tuple(chosen), len(table), len(significant), reason)


def _metric_table(
    metric: str, cols: dict[str, Column], errors: np.ndarray, y: np.ndarray, settings, max_conditions: int
) -> pd.DataFrame | None:
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


def _three_way(
    table: pd.DataFrame, cols: dict[str, Column], weights: dict[str, np.ndarray], settings, overall: float, n: int
) -> pd.DataFrame:
    """Children of the best significant or large two-condition slices whose error
    count leaves room for a significant child."""
    two = table[table["key"].map(len) == 2]
    q = pd.Series(stats.false_discovery_control(table["p_value"].to_numpy()), index=table.index)[two.index]
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
    low, high = wilson(k, m)
    table["error_rate"], table["error_low"], table["error_high"] = k / m, low, high
    table["lift_low"] = low / overall
    singles = table["key"].map(len) == 1
    strength = prior_strength(k[singles], m[singles], overall)
    table["lift_shrunk"] = shrunk_lift(k, m, overall, strength)
    table["replication"] = replication_probability(k, m, overall, strength)
    table["score"] = sliceline_score(k / m, overall, m, n)
    return table
