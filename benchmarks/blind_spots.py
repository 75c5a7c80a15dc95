"""Blind-spot discovery benchmark: planted-slice recovery, false discoveries, scan speed
against DuckDB, and persistence on the hotel replay. Not a test.

    .venv/bin/python benchmarks/blind_spots.py [--quick]

Plants: on a real reference period (hotel, bank), a random 1- or 2-condition slice
(a categorical value or reference quantile bin, 3-25% of the rows) is broken in the
model's training data: either 80% of its labels are flipped, or the slice is removed
(removal plants are drawn among the 10% of slices whose positive rate differs most
from the overall rate, otherwise removing them breaks nothing). The model is trained,
and discovery runs the way the factory's `discover` does, on one random half of a
later real batch (bank's later months are tiny, so its "later batch" is all of them
pooled): error slices of the model on that labelled half, and coverage gaps of that
half against the rows the model was actually trained on. Both plant types go through
the same protocol. A plant is recovered when any reported blind spot, of either kind,
has Jaccard >= 0.5 with it (a removed slice the model still predicts well is no error
slice, but it is a coverage gap: production covers ground training never saw).

False discoveries, on the other half of the same batch: an error slice is false when
its rate's 95% interval there includes the half's overall rate (lift 1), both over the
rows its metric counts (all rows, the positives for a miss slice, the negatives for a
false-alarm slice);
a coverage gap is false when its own statistic does not replicate: its density ratio,
production half vs training rows (the 95% interval of its production share among its
rows in both, against the share it would have without a gap), includes 1.

Speed: every 1- and 2-way slice's row and error count on hotel rows resampled to
`rows`, by factory's bincount scan and by one DuckDB GROUP BY GROUPING SETS query over
the same integer codes. If the `sliceline` package is importable (extra `bench`) it
runs on the same codes of the first 100,000 rows too: its time against our scan's on
those rows, and the share of its top-5 slices that are also the top-5 of our scan by
the same SliceLine score (a check that both count and score alike).

Persistence: on the hotel replay, for each later batch L the model trained on every
earlier batch finds blind spots on L; the model retrained on the real rows through L
(without anything targeting them) then scores batch L+1, and each reported slice's
lift there (of its own metric) is averaged. The baseline is the naive ranking
(significant 1-2-way slices by raw rate, per metric) measured in the same run. A miss
or false-alarm rate has a lower base than the error rate, so its lifts run higher:
compare each metric with its own baseline (`persistence_by_metric` against
`persistence_naive_by_metric`); `persistence_naive` is the error-rate baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from factory.core.base.dataset import BATCH, load_dataset
from factory.core.base.plane import reference_from_source
from factory.core.base.profile import profile_reference
from factory.core.base.spec import DatasetSpec, load_spec, replace
from factory.core.base.types import conditions_mask
from factory.core.discover.coverage import find_coverage_gaps
from factory.core.discover.error_slices import find_blind_spots
from factory.core.discover.persistence import _stub, blind_spot_table, slice_lift
from factory.core.discover.ranking import (
    JACCARD,
    SLICELINE_ALPHA,
    _jaccard,
    sliceline_score,
    wilson,
)
from factory.core.discover.scan import METRIC_LABEL, encode, scan
from factory.core.learn.recipe import train_model


def quick_spec(path: Path, trees: int = 100) -> DatasetSpec:
    spec = load_spec(path)
    return replace(spec, training=replace(spec.training, n_estimators=trees))


def load(name: str):
    spec = quick_spec(REPO / "specs" / f"{name}.yaml")
    data = load_dataset(spec)
    reference, later = reference_from_source(spec, data)
    profile = profile_reference(reference, spec)
    if name == "bank":
        target = data[data[BATCH].isin(later)]
    else:
        target = data[data[BATCH] == later[1]]
    return spec, data, reference, later, profile, target.reset_index(drop=True)


def candidate_slices(reference: pd.DataFrame, spec: DatasetSpec, profile) -> list[tuple]:
    """Readable 1- and 2-condition predicates covering 3-25% of the reference."""
    cols = encode(reference, profile)
    table = scan(cols, {"positives": reference[spec.target].to_numpy(dtype=float)}, 1)
    share = table["support"] / len(reference)
    keep = table[(share >= 0.03) & (share <= 0.25)]
    rate = reference[spec.target].mean()
    return [(r.conditions, abs(r.positives / r.support - rate)) for r in keep.itertuples()]


def plant(reference: pd.DataFrame, spec: DatasetSpec, conditions, method: str, rng) -> pd.DataFrame:
    train = reference.copy()
    inside = conditions_mask(conditions, train).to_numpy()
    if method == "remove":
        return train[~inside]
    flip = inside & (rng.random(len(train)) < 0.8)
    train.loc[flip, spec.target] = 1 - train.loc[flip, spec.target]
    return train


def interval_includes_one(k: float, m: int, overall: float) -> bool:
    low, high = wilson(np.array([k]), np.array([m]))
    return bool(low[0] <= overall <= high[0]) or m == 0


def false_discovery(spot, check: pd.DataFrame, err_c: np.ndarray, train: pd.DataFrame, target: str) -> bool:
    """Does the spot's own statistic fail to replicate on the held-out half?"""
    m = spot.mask(check).to_numpy()
    if spot.kind == "coverage":  # density ratio 1 <=> its check rows are a share n_c / (n_c + n_t) of its rows in both
        in_train = int(spot.mask(train).sum())
        return interval_includes_one(m.sum(), int(m.sum()) + in_train, len(check) / (len(check) + len(train)))
    label = METRIC_LABEL[spot.metric]  # the rows its rate is over: all, positives or negatives
    rows = np.ones(len(check), dtype=bool) if label is None else check[target].to_numpy(dtype=float) == label
    return interval_includes_one(err_c[m & rows].sum(), int((m & rows).sum()), err_c[rows].mean())


def run_plants(count: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    per = {"hotel": count - count // 3, "bank": count // 3}
    recovered, details = 0, []
    reported, false = {"error": 0, "coverage": 0}, {"error": 0, "coverage": 0}
    for name, n_plants in per.items():
        spec, _, reference, _, profile, target = load(name)
        slices = candidate_slices(reference, spec, profile)
        wide = np.quantile([gap for _, gap in slices], 0.9)  # removal plants: the 10% most distinct slices
        half = rng.random(len(target)) < 0.5
        disc, check = target[half].reset_index(drop=True), target[~half].reset_index(drop=True)
        for i in range(n_plants):
            method = "flip" if i % 2 == 0 else "remove"
            pool = [c for c, gap in slices if method == "flip" or gap >= wide]
            while True:
                conditions = pool[rng.integers(len(pool))]
                if conditions_mask(conditions, disc).sum() >= 2 * spec.blind_spots.min_support:
                    break
            train = plant(reference, spec, conditions, method, rng)
            model = train_model(train, spec)
            err_d = (model.predict(disc) != disc[spec.target].astype(int).to_numpy()).astype(int)
            err_c = (model.predict(check) != check[spec.target].astype(int).to_numpy()).astype(int)
            spots = find_blind_spots(disc, err_d, spec, profile, reference=train).blind_spots
            spots += find_coverage_gaps(disc, train, spec, profile, proba=model.predict_proba(disc)).blind_spots
            truth = conditions_mask(conditions, disc).to_numpy()
            hits = [s for s in spots if _jaccard(s.mask(disc).to_numpy(), truth) >= JACCARD]
            recovered += bool(hits)
            flags = [false_discovery(s, check, err_c, train, spec.target) for s in spots]
            for s, f in zip(spots, flags):
                reported[s.kind] += 1
                false[s.kind] += f
            details.append(
                dict(
                    dataset=name,
                    method=method,
                    planted=" AND ".join(c.text() for c in conditions),
                    recovered=[s.kind for s in hits],
                    reported=[(s.kind, s.metric, s.predicate) for s in spots],
                    false=[s.predicate for s, f in zip(spots, flags) if f],
                )
            )
            print(json.dumps(details[-1]), file=sys.stderr)
    total = sum(reported.values())
    return dict(
        plants=sum(per.values()),
        recall=recovered / sum(per.values()),
        false_discovery=sum(false.values()) / max(total, 1),
        reported=total,
        false_error=false["error"] / max(reported["error"], 1),
        false_coverage=false["coverage"] / max(reported["coverage"], 1),
        reported_error=reported["error"],
        reported_coverage=reported["coverage"],
        details=details,
    )


def duckdb_counts(cols: dict, errors: np.ndarray, min_support: int) -> tuple[pd.DataFrame, float]:
    import duckdb

    frame = pd.DataFrame({f"c{i}": codes.astype(np.int32) for i, (codes, _) in enumerate(cols.values())})
    frame["err"] = errors.astype(np.int32)
    names = [c for c in frame.columns if c != "err"]
    sets = [f"({a})" for a in names] + [f"({a}, {b})" for a, b in combinations(names, 2)]
    sql = (
        f"SELECT {', '.join(names)}, count(*) AS n, sum(err) AS e FROM frame "
        f"GROUP BY GROUPING SETS ({', '.join(sets)}) HAVING count(*) >= {min_support}"
    )
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("frame", frame)
    start = time.perf_counter()
    out = con.execute(sql).df()
    return out, time.perf_counter() - start


def sliceline_compare(cols: dict, errors: np.ndarray, min_support: int, ours: pd.DataFrame, k: int = 5) -> dict:
    """Time `sliceline` (1-2-way, SliceLine's own search) on the same integer codes,
    and the share of its top-k slices that are also our scan's top-k by the same
    score. Its codes include each categorical column's unreadable "other" value,
    which our scan never reports: a slice on it cannot agree."""
    try:
        from sliceline.slicefinder import Slicefinder
    except ImportError:
        return dict(sliceline_s=None, sliceline_agree=None)
    x = np.column_stack([codes for codes, _ in cols.values()])
    start = time.perf_counter()
    finder = Slicefinder(alpha=SLICELINE_ALPHA, k=k, max_l=2, min_sup=min_support, verbose=False).fit(x, errors)
    elapsed = time.perf_counter() - start
    names = list(cols)
    theirs = [tuple((names[j], int(v)) for j, v in enumerate(row) if v is not None) for row in finder.top_slices_[:k]]
    score = sliceline_score(ours["errors"] / ours["support"], errors.mean(), ours["support"], len(errors))
    top = set(ours.assign(score=score).sort_values("score", ascending=False)["key"].head(k))

    def text(key) -> str:
        return " AND ".join(" AND ".join(c.text() for c in cols[n][1][v]) or f"{n} = (other)" for n, v in key)

    return dict(
        sliceline_s=round(elapsed, 3),
        sliceline_agree=sum(t in top for t in theirs) / k,
        sliceline_top=[text(t) for t in theirs],
        scan_top=[text(t) for t in top],
    )


def run_speed(rows: int, seed: int = 0) -> dict:
    spec, data, reference, later, profile, _ = load("hotel")
    pool = data[data[BATCH].isin(later)].reset_index(drop=True)
    model = train_model(reference, spec)
    errors_pool = (model.predict(pool) != pool[spec.target].astype(int).to_numpy()).astype(int)
    idx = np.random.default_rng(seed).integers(0, len(pool), rows)
    scaled, errors = pool.iloc[idx].reset_index(drop=True), errors_pool[idx]
    start = time.perf_counter()
    cols = encode(scaled, profile)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = scan(cols, {"errors": errors.astype(float)}, spec.blind_spots.min_support)
    scan_s = time.perf_counter() - start
    theirs, duckdb_s = duckdb_counts(cols, errors, spec.blind_spots.min_support)
    # same counts: every readable slice of ours is one grouping-set row of DuckDB's
    assert len(theirs) >= len(ours) and int(ours["errors"].sum()) <= int(theirs["e"].sum())
    return dict(
        rows=rows,
        scan_s=round(scan_s, 3),
        duckdb_s=round(duckdb_s, 3),
        ratio=round(scan_s / duckdb_s, 2),
        encode_s=round(encode_s, 3),
        slices=len(ours),
        **sliceline_on(cols, errors, spec.blind_spots.min_support),
    )


def sliceline_on(cols: dict, errors: np.ndarray, min_support: int, rows: int = 100_000) -> dict:
    """sliceline against our scan on the first `rows` rows (sliceline takes ~40 s per
    100k rows here: the full 1M would dominate the benchmark)."""
    cols = {name: (codes[:rows], conds) for name, (codes, conds) in cols.items()}
    errors = errors[:rows]
    start = time.perf_counter()
    ours = scan(cols, {"errors": errors.astype(float)}, min_support)
    return dict(
        sliceline_rows=len(errors),
        sliceline_scan_s=round(time.perf_counter() - start, 3),
        **sliceline_compare(cols, errors, min_support, ours),
    )


def naive_top(labelled, errors, spec, profile, metric: str = "error") -> list:
    """Baseline: significant 1-2-way slices ranked by the raw rate of `metric` (over all
    rows, the positives or the negatives), de-duplicated by Jaccard."""
    label = METRIC_LABEL[metric]
    rows = np.ones(len(labelled), dtype=bool) if label is None else labelled[spec.target].to_numpy(dtype=float) == label
    cols = {name: (codes[rows], conds) for name, (codes, conds) in encode(labelled, profile).items()}
    table = scan(cols, {"errors": errors[rows].astype(float)}, spec.blind_spots.min_support)
    overall = errors[rows].mean()
    p = stats.binom.sf(table["errors"] - 1, table["support"], overall)
    table = table[
        (stats.false_discovery_control(p) <= spec.blind_spots.alpha) & (table["errors"] / table["support"] > overall)
    ]
    table = table.assign(rate=table["errors"] / table["support"]).sort_values("rate", ascending=False)
    chosen, masks = [], []
    for r in table.itertuples():
        m = conditions_mask(r.conditions, labelled).to_numpy()
        if any(_jaccard(m, o) >= JACCARD for o in masks):
            continue
        chosen.append(r.conditions)
        masks.append(m)
        if len(chosen) == spec.blind_spots.max_slices:
            break
    return chosen


def run_persistence(pairs: int | None) -> dict:
    spec, data, reference, later, profile, _ = load("hotel")
    batches = later if pairs is None else later[: pairs + 1]
    lifts, history, metrics = [], [], []
    naive_lifts: dict[str, list[float]] = {m: [] for m in spec.blind_spots.metrics}
    frames = {b: data[data[BATCH] == b].reset_index(drop=True) for b in batches}
    model = train_model(reference, spec)
    for i, b in enumerate(batches[:-1]):
        found = frames[b]
        err = (model.predict(found) != found[spec.target].astype(int).to_numpy()).astype(int)
        spots = find_blind_spots(found, err, spec, profile, reference=reference, history=history).blind_spots
        naive = {m: naive_top(found, err, spec, profile, m) for m in naive_lifts}
        history.append(blind_spot_table(spots, b))
        seen = pd.concat([reference] + [frames[x] for x in batches[: i + 1]], ignore_index=True)
        model = train_model(seen, spec)  # retrained on real rows through b, nothing targeting the slices
        nxt = frames[batches[i + 1]]
        err_next = (model.predict(nxt) != nxt[spec.target].astype(int).to_numpy()).astype(int)
        kept = [(s.metric, x) for s in spots if (x := slice_lift(s, nxt, err_next, spec.target)) is not None]
        lifts += [x for _, x in kept]
        metrics += [m for m, _ in kept]
        for m, found_naive in naive.items():
            stubs = [dataclasses.replace(_stub(c), metric=m) for c in found_naive]
            naive_lifts[m] += [x for x in (slice_lift(s, nxt, err_next, spec.target) for s in stubs) if x is not None]
        print(
            json.dumps(dict(batch=b, persistence=float(np.mean(lifts)), naive=float(np.mean(naive_lifts["error"])))),
            file=sys.stderr,
        )
    by_metric = {
        m: round(float(np.mean([x for k, x in zip(metrics, lifts) if k == m])), 3) for m in sorted(set(metrics))
    }
    naive_by_metric = {m: round(float(np.mean(x)), 3) for m, x in naive_lifts.items() if x}
    return dict(
        persistence=round(float(np.mean(lifts)), 3),
        persistence_naive=naive_by_metric.get("error"),
        persistence_slices=len(lifts),
        persistence_by_metric=by_metric,
        persistence_naive_by_metric=naive_by_metric,
        persistence_metric_slices={m: metrics.count(m) for m in sorted(set(metrics))},
        replay_pairs=len(batches) - 1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 plants, 100,000 rows, 4 replay pairs")
    args = parser.parse_args()
    start = time.perf_counter()
    plants = run_plants(6 if args.quick else 20)
    speed = run_speed(100_000 if args.quick else 1_000_000)
    print(json.dumps(speed), file=sys.stderr)
    persistence = run_persistence(4 if args.quick else None)
    result = dict(
        plants=plants["plants"],
        recall=round(plants["recall"], 3),
        false_discovery=round(plants["false_discovery"], 3),
        rows=speed["rows"],
        scan_s=speed["scan_s"],
        duckdb_s=speed["duckdb_s"],
        ratio=speed["ratio"],
        persistence=persistence["persistence"],
        persistence_naive=persistence["persistence_naive"],
        persistence_by_metric=persistence["persistence_by_metric"],
        persistence_naive_by_metric=persistence["persistence_naive_by_metric"],
        persistence_metric_slices=persistence["persistence_metric_slices"],
        reported=plants["reported"],
        reported_error=plants["reported_error"],
        reported_coverage=plants["reported_coverage"],
        false_error=round(plants["false_error"], 3),
        false_coverage=round(plants["false_coverage"], 3),
        encode_s=speed["encode_s"],
        slices=speed["slices"],
        sliceline_s=speed["sliceline_s"],
        sliceline_scan_s=speed["sliceline_scan_s"],
        sliceline_rows=speed["sliceline_rows"],
        sliceline_agree=speed["sliceline_agree"],
        replay_pairs=persistence["replay_pairs"],
        seconds=round(time.perf_counter() - start, 1),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
