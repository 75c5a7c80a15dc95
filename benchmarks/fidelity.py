"""Fidelity and privacy of the default generator on real data. Not a test.

    .venv/bin/python benchmarks/fidelity.py [--quick]

For hotel, then bank: the labelled reference period is split at random into training
rows (60%), a real holdout (20%) and fresh real rows (20%). The factory's default
generator (factory.core.synthesis, an unconditioned plan at the real class mix, as the
`untargeted` baseline draws it) is fitted on the training rows and generates as many
rows as the holdout has. Its exact copies of training rows are counted and dropped (the
gate's rule), then factory.core.quality scores the rest against the training rows and
the holdout. Baseline, measured in the same run on the same rows: the fresh real rows,
duplicates of training rows included (the hotel data holds many duplicated bookings),
scored the same way: what a generator that draws real rows would reach.

label_gap_max is measured on the whole batch against the whole holdout (rows the
generator never saw; its reference: fresh real rows vs the holdout), over categorical
values with >= 100 rows on both sides (label_gap_mean their mean). Beside it, as measured before:
label_gap_max_vs_train (against the training rows: a generator is favoured there, it
reproduces their sampling noise) and label_gap_max_one_sided (against the training
rows, values with >= 100 real rows only: a value seen a handful of times in the batch
measures noise, so fresh real rows scored worse than the generator).
label_gap_max_sampled is on the metric sample, label_gap_low its noise-proof lower
bound (what the gate judges). tstr_ratio_unseen: the same utility ratio on the holdout
rows that are not exact copies of a training row (the hotel data repeats bookings, so
train-on-real partly scores rows it was trained on, while the gate drops synthetic
copies). Privacy attacks (factory.core.privacy, after anonymeter): risk, its 95%
interval and the verdict per attack; the same for the fresh real rows.

Extra arm, keys prefixed `argn_`: the same measurements for the autoregressive
generator (factory.core.argn; 15 epochs / 120 s with --quick, 20 / 300 s otherwise).

--quick caps the training rows at 8000 and the holdout at 2000. Metrics run on samples
of at most 5000 rows per side (2000 with --quick).
Prints one line per dataset, then a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from factory.core.base.dataset import exact_copies, load_dataset
from factory.core.base.plane import reference_from_source
from factory.core.base.profile import profile_reference
from factory.core.base.spec import load_spec, replace
from factory.core.gate.quality import evaluate_synthetic, tstr
from factory.core.measure.labelgaps import label_fidelity_gaps, label_gap_table
from factory.core.synth.choice import untargeted_rows

KEYS = ("quality", "discriminator_auc", "tstr_ratio", "label_gap_max", "dcr_share", "nndr_p5", "exact_copies")
EXTRA = ("mia_auc", "label_gap_low", "column_shapes", "pair_trends", "tstr_auc", "trtr_auc")


def _round(v):
    return round(v, 4) if isinstance(v, float) else v


def _attacks(metrics) -> dict:
    """Per attack: risk, its interval and the verdict."""
    out = {}
    for a in metrics.attacks:
        out.update(
            {
                f"{a.attack}_risk": _round(a.risk),
                f"{a.attack}_risk_ci": [_round(a.risk_low), _round(a.risk_high)],
                f"{a.attack}_verdict": a.verdict,
            }
        )
    return out


def _one_sided_gap_max(real, synthetic, spec) -> float | None:
    table = label_gap_table(real, synthetic, spec, min_rows=100)
    return _round(float(table["gap"].max())) if len(table) else None


def arm(spec, train: pd.DataFrame, holdout: pd.DataFrame, profile, seed: int) -> dict:
    """One generator's untargeted rows (as many as the holdout), scored as the gate does."""
    start = time.perf_counter()
    synthetic = untargeted_rows(train, len(holdout), spec, profile, cycle="benchmark")
    fit_seconds = time.perf_counter() - start
    copies = exact_copies(synthetic, train, list(spec.features))
    kept = synthetic[~copies].reset_index(drop=True)
    start = time.perf_counter()
    report = evaluate_synthetic("benchmark", kept, train, holdout, spec, seed=seed)
    eval_seconds = time.perf_counter() - start
    overall = report.slices[0]
    out = {k: _round(getattr(overall, k)) for k in KEYS + EXTRA}
    # label fidelity on the whole batch against the whole holdout (the metric sample is noisier)
    gaps = label_fidelity_gaps(holdout, kept, spec)
    out["label_gap_max"], out["label_gap_mean"] = _round(gaps["max"]), _round(gaps["mean"])
    out["label_gap_max_vs_train"] = _round(label_fidelity_gaps(train, kept, spec)["max"])
    out["label_gap_max_one_sided"] = _one_sided_gap_max(train, kept, spec)
    out["label_gap_max_sampled"] = _round(overall.label_gap_max)
    out["tstr_ratio_unseen"] = _tstr_unseen(train, kept, holdout, spec, seed)
    out.update(_attacks(overall))
    out.update(
        exact_copies_generated=int(copies.sum()),  # before the gate drops them; `exact_copies` is after
        synthetic_rows=len(synthetic),
        fit_sample_seconds=round(fit_seconds, 1),
        eval_seconds=round(eval_seconds, 1),
        gate_failures=list(report.failures),
    )
    return out


def _unseen(holdout: pd.DataFrame, train: pd.DataFrame, spec) -> pd.DataFrame:
    """Holdout rows that are not exact copies of a training row."""
    return holdout[~exact_copies(holdout, train, list(spec.features))]


def _tstr_unseen(train: pd.DataFrame, rows: pd.DataFrame, holdout: pd.DataFrame, spec, seed: int) -> float | None:
    """Train-on-`rows` / train-on-real ROC AUC on the holdout rows unseen in training."""
    n = spec.gate.sample_rows
    unseen = _unseen(holdout, train, spec)
    scores = tstr(
        train.sample(min(len(train), n), random_state=seed),
        rows.sample(min(len(rows), n), random_state=seed),
        unseen.sample(min(len(unseen), n), random_state=seed),
        spec,
        seed,
    )
    return _round(scores[2]) if scores else None


def measure(spec_path: Path, quick: bool, seed: int) -> dict:
    spec = load_spec(spec_path)
    spec = replace(spec, gate=replace(spec.gate, sample_rows=2000 if quick else 5000))
    reference, _ = reference_from_source(spec, load_dataset(spec))
    labelled = reference[reference[spec.target].notna()].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    n = len(labelled)
    train, holdout, fresh = (
        labelled.iloc[: int(0.6 * n)],
        labelled.iloc[int(0.6 * n) : int(0.8 * n)],
        labelled.iloc[int(0.8 * n) :],
    )
    if quick:
        train, holdout, fresh = train.head(8000), holdout.head(2000), fresh.head(2000)
    train, holdout, fresh = (f.reset_index(drop=True) for f in (train, holdout, fresh))
    profile = profile_reference(train, spec)

    out = arm(spec, train, holdout, profile, seed)
    argn_spec = replace(
        spec,
        synthesis=replace(
            spec.synthesis,
            generator="autoregressive",
            epochs=15 if quick else 20,
            max_fit_seconds=120.0 if quick else 300.0,
        ),
    )
    out.update({f"argn_{k}": v for k, v in arm(argn_spec, train, holdout, profile, seed).items()})
    base = evaluate_synthetic("baseline", fresh, train, holdout, spec, seed=seed).slices[0]  # real rows as they are
    out.update(
        train_rows=len(train),
        holdout_unseen_rows=len(_unseen(holdout, train, spec)),
        baseline_real_tstr_ratio_unseen=_tstr_unseen(train, fresh, holdout, spec, seed),
        **{f"baseline_real_{k}": _round(getattr(base, k)) for k in KEYS + ("mia_auc",)},
        **{f"baseline_real_{k}": v for k, v in _attacks(base).items()},
        baseline_real_duplicates_of_train=int(
            exact_copies(fresh, train, list(spec.features)).sum()
        ),  # = baseline_real_exact_copies
    )
    out["baseline_real_label_gap_max"] = _round(label_fidelity_gaps(holdout, fresh, spec)["max"])  # as label_gap_max
    out["baseline_real_label_gap_max_vs_train"] = _round(label_fidelity_gaps(train, fresh, spec)["max"])
    out["baseline_real_label_gap_max_one_sided"] = _one_sided_gap_max(train, fresh, spec)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller samples")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    result: dict = {"quick": args.quick}
    for name, prefix in (("hotel", ""), ("bank", "bank_")):
        start = time.perf_counter()
        scores = measure(REPO / "specs" / f"{name}.yaml", args.quick, args.seed)
        print(
            f"{name}: " + ", ".join(f"{k}={scores[k]}" for k in KEYS) + f" ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        print(f"{name} argn: " + ", ".join(f"{k}={scores['argn_' + k]}" for k in KEYS), flush=True)
        result.update({f"{prefix}{k}": v for k, v in scores.items()})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
