"""Drift fast path vs Evidently's DataDriftPreset on the same columns of real hotel data.

Reference rows are resampled (with replacement) from the spec's reference period and
current rows from the late period (the second half of the later batches), both to the
target size. In the same run it times Evidently (the baseline) and the fast path on the
precomputed reference profile, and compares their per-column drifted verdicts.

    .venv/bin/python benchmarks/drift.py [--quick] [--spec specs/hotel.yaml]

The last line on stdout is JSON: rows, columns, evidently_s, factory_s, speedup,
ms_per_column, agreement (plus profile_s, the one-off cost of the reference profile,
and the columns whose verdicts differ).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from factory.core.base.dataset import BATCH, load_dataset
from factory.core.base.plane import reference_from_source
from factory.core.base.profile import profile_reference
from factory.core.base.spec import load_spec
from factory.core.monitor.drift import fast_drift
from factory.core.monitor.evidently_report import evidently_drift

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--spec", default=str(REPO / "specs" / "hotel.yaml"))
    parser.add_argument("--repeats", type=int, default=3, help="fast-path repeats (the best is kept)")
    parser.add_argument(
        "--estimator",
        action="store_true",
        help="also train the first champion and report CBPE's error (estimated vs realised ROC AUC) per later batch",
    )
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000

    spec = load_spec(args.spec)
    data = load_dataset(spec)
    reference_rows, later = reference_from_source(spec, data)
    late = later[len(later) // 2 :]
    current_rows = data[data[BATCH].isin(late)]
    columns = list(spec.numeric + spec.categorical)
    reference = reference_rows[columns].sample(rows, replace=True, random_state=0).reset_index(drop=True)
    current = current_rows[columns].sample(rows, replace=True, random_state=1).reset_index(drop=True)
    reference[spec.target] = 0.0  # the profile records the positive rate; not a drift column

    start = time.perf_counter()
    profile = profile_reference(reference, spec)
    profile_s = time.perf_counter() - start

    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fast = fast_drift("bench", current, profile, spec)
        timings.append(time.perf_counter() - start)
    factory_s = min(timings)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Evidently's own scipy warnings (zero expected counts)
        start = time.perf_counter()
        baseline, _ = evidently_drift("bench", reference, current, spec)
        evidently_s = time.perf_counter() - start

    ours = {c.column: c for c in fast.columns}
    compared = [c for c in baseline.columns if c.column in ours]
    same = [c for c in compared if c.drifted == ours[c.column].drifted]
    differ = [
        dict(column=c.column, test=c.test, evidently=c.score, factory=ours[c.column].score)
        for c in compared
        if c.drifted != ours[c.column].drifted
    ]
    largest_gap = max((abs(c.score - ours[c.column].score) for c in compared), default=0.0)
    for c in compared:
        mine = ours[c.column]
        print(
            f"{c.column:32s} {mine.test:14s} evidently {c.score:10.5f} factory {mine.score:10.5f} "
            f"drifted {c.drifted!s:5s} / {mine.drifted!s:5s}"
        )
    result = dict(
        rows=rows,
        columns=len(columns),
        evidently_s=round(evidently_s, 3),
        factory_s=round(factory_s, 4),
        speedup=round(evidently_s / factory_s, 1),
        ms_per_column=round(1000 * factory_s / len(columns), 2),
        agreement=round(len(same) / len(compared), 4) if compared else None,
        compared_columns=len(compared),
        largest_score_gap=round(largest_gap, 6),
        profile_s=round(profile_s, 3),
        differing=differ,
    )
    if args.estimator:
        result.update(estimator_error(spec, data, reference_rows, later))
    print(json.dumps(result))


def estimator_error(spec, data, reference_rows, later) -> dict:
    """The first champion (reference minus its last batch, as the replay trains it) kept
    frozen over every later batch: CBPE's estimated ROC AUC vs the realised one, with
    scores recalibrated on the previous (newest labelled) batch, and without (prior only)."""
    from factory.core.learn.recipe import train_model
    from factory.core.monitor.estimation import estimate_for

    last = sorted(reference_rows[BATCH].unique())[-1]
    champion = train_model(reference_rows[reference_rows[BATCH] < last], spec)
    errors, plain_errors, covered, previous = [], [], 0, data[data[BATCH] == last]
    for batch_id in later:
        rows = data[data[BATCH] == batch_id]
        e = estimate_for(champion, rows, spec.target, calibration=previous)
        plain_errors.append(estimate_for(champion, rows, spec.target).auc - e.realised_auc)
        errors.append(e.auc - e.realised_auc)
        covered += e.auc_low <= e.realised_auc <= e.auc_high
        print(
            f"{batch_id} rows {len(rows):5d} estimated AUC {e.auc:.3f} [{e.auc_low:.3f}, {e.auc_high:.3f}] "
            f"realised {e.realised_auc:.3f} error {errors[-1]:+.3f} (prior only {plain_errors[-1]:+.3f})"
        )
        previous = rows
    errors, plain_errors = np.array(errors), np.array(plain_errors)
    return dict(
        estimator_batches=len(errors),
        estimator_auc_mae=round(float(np.abs(errors).mean()), 4),
        estimator_auc_bias=round(float(errors.mean()), 4),
        estimator_interval_coverage=round(covered / len(errors), 3),
        estimator_auc_mae_prior_only=round(float(np.abs(plain_errors).mean()), 4),
    )


if __name__ == "__main__":
    main()
