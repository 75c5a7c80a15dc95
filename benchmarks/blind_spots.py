"""Blind-spot discovery benchmark: planted-slice recovery, false discoveries, scan speed
against DuckDB, and persistence on the hotel replay. Not a test.

    .venv/bin/python benchmarks/blind_spots.py [--quick]

Plants: on a real reference period (hotel, bank), a random 1- or 2-condition slice
(a categorical value or reference quantile bin, 3-25% of the rows) is broken in the
model's training data: either 80% of its labels are flipped, or the slice is removed
(removal plants are drawn among the 10% of slices whose positive rate differs most
from the overall rate, otherwise removing them breaks nothing). The model is trained, and discovery
runs on one random half of a later real batch (bank's later months are tiny, so its
"later batch" is all of them pooled). A plant is recovered when a reported slice has
Jaccard >= 0.5 with it. A reported slice is a false discovery when its lift's 95%
interval on the other half of the same batch includes 1.

Speed: every 1- and 2-way slice's row and error count on hotel rows resampled to
`rows`, by factory's bincount scan and by one DuckDB GROUP BY GROUPING SETS query over
the same integer codes. If the `sliceline` package is importable it is timed too.

Persistence: on the hotel replay, for each later batch L the model trained on every
earlier batch finds blind spots on L; the model retrained on the real rows through L
(without anything targeting them) then scores batch L+1, and each reported slice's
error lift there is averaged. The baseline is the naive ranking (significant 1-2-way
slices by raw lift) measured in the same run.
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

from factory.core import blind_spots as bs  # noqa: E402
from factory.core.dataset import BATCH, load_dataset  # noqa: E402
from factory.core.plane import reference_from_source  # noqa: E402
from factory.core.profile import profile_reference  # noqa: E402
from factory.core.spec import DatasetSpec, load_spec  # noqa: E402
from factory.core.training import train_model  # noqa: E402


def quick_spec(path: Path, trees: int = 100) -> DatasetSpec:
    spec = load_spec(path)
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, n_estimators=trees))


def load(name: str):
    spec = quick_spec(REPO / "specs" / f"{name}.yaml")
    data = load_dataset(spec)
    reference, later = reference_from_source(spec, data)
    profile = profile_reference(reference, spec, bins=spec.blind_spots.numeric_bins)
    if name == "bank":
        target = data[data[BATCH].isin(later)]
    else:
        target = data[data[BATCH] == later[1]]
    return spec, data, reference, later, profile, target.reset_index(drop=True)


def candidate_slices(reference: pd.DataFrame, spec: DatasetSpec, profile) -> list[tuple]:
    """Readable 1- and 2-condition predicates covering 3-25% of the reference."""
    cols = bs.encode(reference, profile)
    table = bs.scan(cols, {"positives": reference[spec.target].to_numpy(dtype=float)}, 1)
    share = table["support"] / len(reference)
    keep = table[(share >= 0.03) & (share <= 0.25)]
    rate = reference[spec.target].mean()
    return [(r.conditions, abs(r.positives / r.support - rate)) for r in keep.itertuples()]


def plant(reference: pd.DataFrame, spec: DatasetSpec, conditions, method: str, rng) -> pd.DataFrame:
    train = reference.copy()
    inside = bs.spot_mask(conditions, train).to_numpy()
    if method == "remove":
        return train[~inside]
    flip = inside & (rng.random(len(train)) < 0.8)
    train.loc[flip, spec.target] = 1 - train.loc[flip, spec.target]
    return train


def interval_includes_one(k: float, m: int, overall: float) -> bool:
    low, high = bs._wilson(np.array([k]), np.array([m]))
    return bool(low[0] <= overall <= high[0]) or m == 0


def run_plants(count: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    per = {"hotel": count - count // 3, "bank": count // 3}
    recovered, reported, false, details = 0, 0, 0, []
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
                if bs.spot_mask(conditions, disc).sum() >= 2 * spec.blind_spots.min_support:
                    break
            model = train_model(plant(reference, spec, conditions, method, rng), spec)
            err_d = (model.predict(disc) != disc[spec.target].astype(int).to_numpy()).astype(int)
            err_c = (model.predict(check) != check[spec.target].astype(int).to_numpy()).astype(int)
            spots = bs.find_blind_spots(disc, err_d, spec, profile, reference=reference).blind_spots
            truth = bs.spot_mask(conditions, disc).to_numpy()
            hit = any(bs._jaccard(s.mask(disc).to_numpy(), truth) >= bs.JACCARD for s in spots)
            recovered += hit
            for s in spots:
                m = s.mask(check).to_numpy()
                reported += 1
                false += interval_includes_one(err_c[m].sum(), int(m.sum()), err_c.mean())
            details.append(dict(dataset=name, method=method, planted=" AND ".join(c.text() for c in conditions),
                                recovered=hit, reported=[s.predicate for s in spots][:3]))
            print(json.dumps(details[-1]), file=sys.stderr)
    return dict(plants=sum(per.values()), recall=recovered / sum(per.values()),
                false_discovery=false / max(reported, 1), reported=reported, details=details)


def duckdb_counts(cols: dict, errors: np.ndarray, min_support: int) -> tuple[pd.DataFrame, float]:
    import duckdb

    frame = pd.DataFrame({f"c{i}": codes.astype(np.int32) for i, (codes, _) in enumerate(cols.values())})
    frame["err"] = errors.astype(np.int32)
    names = [c for c in frame.columns if c != "err"]
    sets = [f"({a})" for a in names] + [f"({a}, {b})" for a, b in combinations(names, 2)]
    sql = (f"SELECT {', '.join(names)}, count(*) AS n, sum(err) AS e FROM frame "
           f"GROUP BY GROUPING SETS ({', '.join(sets)}) HAVING count(*) >= {min_support}")
    con = duckdb.connect()
    con.register("frame", frame)
    start = time.perf_counter()
    out = con.execute(sql).df()
    return out, time.perf_counter() - start


def sliceline_time(cols: dict, errors: np.ndarray, min_support: int) -> float | None:
    try:
        from sliceline.slicefinder import Slicefinder
    except ImportError:
        return None
    x = np.column_stack([codes for codes, _ in cols.values()])
    start = time.perf_counter()
    Slicefinder(alpha=0.95, k=5, max_l=2, min_sup=min_support, n_jobs=1).fit(x, errors)
    return time.perf_counter() - start


def run_speed(rows: int, seed: int = 0) -> dict:
    spec, data, reference, later, profile, _ = load("hotel")
    pool = data[data[BATCH].isin(later)].reset_index(drop=True)
    model = train_model(reference, spec)
    errors_pool = (model.predict(pool) != pool[spec.target].astype(int).to_numpy()).astype(int)
    idx = np.random.default_rng(seed).integers(0, len(pool), rows)
    scaled, errors = pool.iloc[idx].reset_index(drop=True), errors_pool[idx]
    start = time.perf_counter()
    cols = bs.encode(scaled, profile)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = bs.scan(cols, {"errors": errors.astype(float)}, spec.blind_spots.min_support)
    scan_s = time.perf_counter() - start
    theirs, duckdb_s = duckdb_counts(cols, errors, spec.blind_spots.min_support)
    # same counts: every readable slice of ours is one grouping-set row of DuckDB's
    assert len(theirs) >= len(ours) and int(ours["errors"].sum()) <= int(theirs["e"].sum())
    return dict(rows=rows, scan_s=round(scan_s, 3), duckdb_s=round(duckdb_s, 3), ratio=round(scan_s / duckdb_s, 2),
                encode_s=round(encode_s, 3), slices=len(ours), sliceline_s=sliceline_time(cols, errors, spec.blind_spots.min_support))


def naive_top(labelled, errors, spec, profile) -> list:
    """Baseline: significant 1-2-way slices ranked by raw lift, de-duplicated by Jaccard."""
    cols = bs.encode(labelled, profile)
    table = bs.scan(cols, {"errors": errors.astype(float)}, spec.blind_spots.min_support)
    overall = errors.mean()
    p = stats.binom.sf(table["errors"] - 1, table["support"], overall)
    table = table[(bs._benjamini_hochberg(p) <= spec.blind_spots.alpha) & (table["errors"] / table["support"] > overall)]
    table = table.assign(rate=table["errors"] / table["support"]).sort_values("rate", ascending=False)
    chosen, masks = [], []
    for r in table.itertuples():
        m = bs.spot_mask(r.conditions, labelled).to_numpy()
        if any(bs._jaccard(m, o) >= bs.JACCARD for o in masks):
            continue
        chosen.append(r.conditions)
        masks.append(m)
        if len(chosen) == spec.blind_spots.max_slices:
            break
    return chosen


def run_persistence(pairs: int | None) -> dict:
    spec, data, reference, later, profile, _ = load("hotel")
    batches = later if pairs is None else later[: pairs + 1]
    lifts, naive_lifts, history = [], [], []
    frames = {b: data[data[BATCH] == b].reset_index(drop=True) for b in batches}
    model = train_model(reference, spec)
    for i, b in enumerate(batches[:-1]):
        found = frames[b]
        err = (model.predict(found) != found[spec.target].astype(int).to_numpy()).astype(int)
        spots = bs.find_blind_spots(found, err, spec, profile, reference=reference, history=history).blind_spots
        naive = naive_top(found, err, spec, profile)
        history.append(bs.blind_spot_table(spots, b))
        seen = pd.concat([reference] + [frames[x] for x in batches[: i + 1]], ignore_index=True)
        model = train_model(seen, spec)  # retrained on real rows through b, nothing targeting the slices
        nxt = frames[batches[i + 1]]
        err_next = (model.predict(nxt) != nxt[spec.target].astype(int).to_numpy()).astype(int)
        lifts += [x for x in (bs.slice_lift(s, nxt, err_next) for s in spots) if x is not None]
        naive_lifts += [x for x in (bs.slice_lift(bs._stub(c), nxt, err_next) for c in naive) if x is not None]
        print(json.dumps(dict(batch=b, persistence=float(np.mean(lifts)), naive=float(np.mean(naive_lifts)))), file=sys.stderr)
    return dict(persistence=round(float(np.mean(lifts)), 3), persistence_naive=round(float(np.mean(naive_lifts)), 3),
                persistence_slices=len(lifts), replay_pairs=len(batches) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 plants, 100,000 rows, 4 replay pairs")
    args = parser.parse_args()
    start = time.perf_counter()
    plants = run_plants(6 if args.quick else 20)
    speed = run_speed(100_000 if args.quick else 1_000_000)
    persistence = run_persistence(4 if args.quick else None)
    result = dict(plants=plants["plants"], recall=round(plants["recall"], 3), false_discovery=round(plants["false_discovery"], 3),
                  rows=speed["rows"], scan_s=speed["scan_s"], duckdb_s=speed["duckdb_s"], ratio=speed["ratio"],
                  persistence=persistence["persistence"], persistence_naive=persistence["persistence_naive"],
                  reported=plants["reported"], encode_s=speed["encode_s"], slices=speed["slices"],
                  sliceline_s=speed["sliceline_s"], replay_pairs=persistence["replay_pairs"],
                  seconds=round(time.perf_counter() - start, 1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
