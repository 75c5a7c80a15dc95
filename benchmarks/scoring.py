"""Per-blind-spot bootstrap scoring: the vectorised metrics vs one scikit-learn call per resample.

Trains the first hotel champion, then scores a later month's real rows overall and in
each of the blind spots found on the month before (the cycle's own discovery), with 200
resamples, twice: `score_model` (factory/core/metrics.py) and the straightforward loop
of roc_auc_score / average_precision_score / f1_score / recall_score over the same
resamples (the baseline). The two must agree to rounding.

    .venv/bin/python benchmarks/scoring.py [--spec specs/hotel.yaml] [--rounds 200]

The last line on stdout is JSON: rows, spots, rounds, sklearn_s, factory_s, speedup,
max_abs_diff (over every value and interval bound).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from factory.core.base.dataset import BATCH, load_dataset
from factory.core.base.plane import reference_from_source
from factory.core.base.profile import profile_reference
from factory.core.base.spec import load_spec
from factory.core.discover.error_slices import find_blind_spots
from factory.core.learn.recipe import train_model
from factory.core.learn.scoring import score_model
from factory.core.measure.metrics import point_and_interval, resample_counts

REPO = Path(__file__).resolve().parents[1]


def sklearn_scores(
    y: np.ndarray, p: np.ndarray, pred: np.ndarray, masks: list[np.ndarray], w: np.ndarray
) -> list[dict]:
    """The baseline: every resample materialised as rows and scored by scikit-learn."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        recall_score,
        roc_auc_score,
    )

    out = []
    for m in masks:
        values = {k: [] for k in ("auc", "pr_auc", "f1", "recall")}
        for counts in w[:, m]:
            idx = np.repeat(np.arange(int(m.sum())), counts)
            ys, ps, preds = y[m][idx], p[m][idx], pred[m][idx]
            two = len(np.unique(ys)) == 2
            values["auc"].append(roc_auc_score(ys, ps) if two else np.nan)
            values["pr_auc"].append(average_precision_score(ys, ps) if two else np.nan)
            values["f1"].append(f1_score(ys, preds, zero_division=0))
            values["recall"].append(recall_score(ys, preds, zero_division=0) if ys.any() else np.nan)
        out.append({k: point_and_interval(np.array(v)) for k, v in values.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "specs" / "hotel.yaml"))
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    spec = load_spec(args.spec)
    data = load_dataset(spec)
    reference, later = reference_from_source(spec, data)
    found_on, scored_on = data[data[BATCH] == later[0]], data[data[BATCH] == later[1]].reset_index(drop=True)
    model = train_model(reference, spec)
    errors = model.predict(found_on) != found_on[spec.target].astype(int).to_numpy()
    profile = profile_reference(reference, spec)
    spots = find_blind_spots(found_on, errors, spec, profile, reference=reference).blind_spots
    print(f"{len(spots)} blind spots found on {later[0]}; scoring {len(scored_on)} rows of {later[1]}", flush=True)

    start = time.perf_counter()
    ours = score_model("champion", model, scored_on, spec, spots, rounds=args.rounds)
    factory_s = time.perf_counter() - start

    y = scored_on[spec.target].astype(int).to_numpy()
    p = model.predict_proba(scored_on)
    pred = (p >= model.threshold).astype(int)
    masks = [np.ones(len(y), dtype=bool)] + [s.mask(scored_on).to_numpy() for s in spots]
    start = time.perf_counter()
    theirs = sklearn_scores(y, p, pred, masks, resample_counts(len(y), args.rounds, seed=1))
    sklearn_s = time.perf_counter() - start

    ours_flat = [{k: (getattr(ours, k), getattr(ours, f"{k}_low"), getattr(ours, f"{k}_high")) for k in theirs[0]}]
    ours_flat += [
        {k: (getattr(s, k), getattr(s, f"{k}_low"), getattr(s, f"{k}_high")) for k in theirs[0]} for s in ours.spots
    ]
    diffs = [
        abs(a - b)
        for o, t in zip(ours_flat, theirs)
        for k in t
        for a, b in zip(o[k], t[k])
        if a is not None and b is not None
    ]
    undefined_agree = all(
        (a is None) == (b is None) for o, t in zip(ours_flat, theirs) for k in t for a, b in zip(o[k], t[k])
    )
    print(
        json.dumps(
            {
                "rows": len(y),
                "spots": len(spots),
                "rounds": args.rounds,
                "sklearn_s": round(sklearn_s, 2),
                "factory_s": round(factory_s, 3),
                "speedup": round(sklearn_s / factory_s, 1),
                "max_abs_diff": float(max(diffs)),
                "undefined_agree": undefined_agree,
            }
        )
    )


if __name__ == "__main__":
    main()
