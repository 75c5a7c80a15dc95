"""Targeted synthesis benchmark on the real hotel data. Not a test.

    .venv/bin/python benchmarks/synthesis.py [--quick]

Slices of about 0.5%, 0.1% and 0.05% prevalence are picked from the data (generic:
from the spec's column kinds, not column names): one categorical equality, one
categorical equality AND a numeric range (a reference quantile bin), and one
3-condition conjunction (two equalities and a numeric range) AND the positive label.
In the same run, on the same real rows, rows per second of slice rows are measured for
 (a) SDV CTGAN (small epoch budget) `sample_from_conditions` (reject sampling), given
     the slice's equality clauses (and the label) only, as SDV takes no ranges; its
     failures are counted and the rows breaking the full predicate reported;
 (b) SDV GaussianCopula unconditional sampling, then filtering by the full predicate;
 (c) SDV GaussianCopula's own conditional sampling of the equality clauses (the
     factory's previous generator did this, per class): the reason for (d)'s design;
 (d) the factory's generator (latent-space conditioning): `factory_rows_per_s` times its
     sampling, like the baselines; `factory_generate_rows_per_s` times `generate()` end
     to end with a warm generator cache (hashing the real rows, unpickling, lineage).
(e) an extra arm, keys prefixed `argn_`: the factory's autoregressive generator
     (factory.core.argn, spec generator `autoregressive`) on the same slices, sampled
     and scored like (d) (an epoch and wall-time budget: 10 epochs / 120 s with --quick,
     20 / 400 s otherwise).
Fit times are reported apart. Label fidelity: the
factory's unconditional rows (at the real class mix, `fidelity_factor` x the real
rows, to keep sampling noise small) against the real rows, |P(label | value) real -
synthetic| for every categorical value with >= 100 real rows; SDV GaussianCopula's
unconditional sample (the filter baseline) is scored the same way for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from factory.core.base.dataset import load_dataset
from factory.core.base.errors import SynthesisError
from factory.core.base.plane import DataPlane
from factory.core.base.profile import profile_reference
from factory.core.base.spec import DatasetSpec, load_spec, replace
from factory.core.base.storage import Storage
from factory.core.base.types import BlindSpot, Condition
from factory.core.measure.labelgaps import label_fidelity_gaps
from factory.core.synth.choice import fit_generator, generate
from factory.core.synth.codec import rules_hold
from factory.core.synth.plan import SliceRequest

TABLE = "t"
TARGETS = (0.005, 0.001, 0.0005)


def spot(conditions: tuple[Condition, ...], support: int, positive_share: float) -> BlindSpot:
    return BlindSpot(
        conditions=conditions,
        kind="error",
        support=support,
        errors=0,
        error_rate=0.0,
        error_low=0.0,
        error_high=0.0,
        overall_error=0.0,
        lift=2.0,
        p_value=0.0,
        positive_share=positive_share,
    )


def pick_slices(real: pd.DataFrame, spec: DatasetSpec) -> list[tuple[BlindSpot, bool]]:
    """(blind spot, label-conditioned) for the three target prevalences."""
    n, y = len(real), real[spec.target].astype(int)
    profile = profile_reference(real, spec)
    numeric = [c for c in spec.numeric if real[c].nunique() >= 50]
    cats = {c: [v for v, k in real[c].value_counts().items() if k >= 0.002 * n] for c in spec.categorical}

    def ranges(col):
        edges = [-np.inf, *profile.column(col).bin_edges, np.inf]
        for lo, hi in zip(edges[:-1], edges[1:]):
            clauses = tuple(
                c
                for c in (
                    Condition(col, ">=", float(lo)) if np.isfinite(lo) else None,
                    Condition(col, "<", float(hi)) if np.isfinite(hi) else None,
                )
                if c
            )
            yield clauses

    masks: dict[Condition, np.ndarray] = {}

    def share(conds, label=None):
        mask = np.ones(n, bool)
        for c in conds:
            if c not in masks:
                masks[c] = c.mask(real).to_numpy()
            mask &= masks[c]
        if label is not None:
            mask &= (y == label).to_numpy()
        return mask.sum() / n, mask

    # (1) ~0.5%: one categorical equality
    eq = min(
        (
            (Condition(c, "==", v),)
            for c, vs in cats.items()
            for v in real[c].dropna().unique()
            if (real[c] == v).sum() >= 5
        ),
        key=lambda cs: abs(np.log(share(cs)[0] / TARGETS[0])),
    )
    # (2) ~0.1%: a categorical equality and a numeric range
    rng_eq = min(
        (
            (Condition(c, "==", v), *r)
            for c, vs in cats.items()
            for v in vs
            for col in numeric
            for r in ranges(col)
            if share((Condition(c, "==", v), *r))[0] > 0
        ),
        key=lambda cs: abs(np.log(share(cs)[0] / TARGETS[1])),
    )
    # (3) ~0.05%: two equalities, a numeric range, and the positive label
    best, best_gap = None, np.inf
    for c1, c2 in itertools.combinations([c for c in cats if cats[c]], 2):
        for v1, v2 in itertools.product(cats[c1][:8], cats[c2][:8]):
            for col in numeric:
                for r in ranges(col):
                    conds = (Condition(c1, "==", v1), Condition(c2, "==", v2), *r)
                    s = share(conds, 1)[0]
                    if s > 0 and abs(np.log(s / TARGETS[2])) < best_gap:
                        best, best_gap = conds, abs(np.log(s / TARGETS[2]))
    out = []
    for conds, with_label in ((eq, False), (rng_eq, False), (best, True)):
        prevalence, mask = share(conds, 1 if with_label else None)
        out.append((spot(conds, int(mask.sum()), 1.0 if with_label else float(y[mask].mean())), with_label))
    return out


def sdv_metadata(frame: pd.DataFrame, spec: DatasetSpec):
    from sdv.metadata import Metadata

    metadata = Metadata.detect_from_dataframes({TABLE: frame})
    for col in frame.columns:
        kind = "categorical" if col in spec.categorical or col == spec.target else "numerical"
        metadata.update_column(table_name=TABLE, column_name=col, sdtype=kind)
    return metadata


def quiet():
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def sdv_conditional(model, slices, requested: int, spec: DatasetSpec, real_cols) -> dict:
    """SDV's own sample_from_conditions on each slice's equality clauses (+ label)."""
    from sdv.sampling import Condition as SDVCondition

    rows, seconds, failures, violations, per = 0, 0.0, 0, 0, []
    for s, with_label in slices:
        values = {c.column: c.value for c in s.conditions if c.op == "=="}
        if with_label:
            values[spec.target] = "1"
        start = time.perf_counter()
        try:
            with quiet():
                out = model.sample_from_conditions(
                    [SDVCondition(num_rows=requested, column_values=values)], max_tries_per_batch=100
                )[TABLE]
        except Exception as exc:  # "Unable to sample any rows for the given conditions"
            out, err = pd.DataFrame(columns=real_cols), str(exc).splitlines()[0][:120]
            failures += 1
        else:
            err = ""
            if len(out) < requested:
                failures += 1
        took = time.perf_counter() - start
        rows, seconds = rows + len(out), seconds + took
        bad = int((~s.mask(out)).sum()) if len(out) else 0
        violations += bad
        per.append(dict(predicate=s.predicate, rows=len(out), seconds=round(took, 2), violations=bad, error=err))
    return dict(
        rows_per_s=rows / seconds if seconds else 0.0,
        rows=rows,
        failures=failures,
        violations=violations,
        per_slice=per,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    quick = args.quick
    spec = load_spec(REPO / "specs" / "hotel.yaml")
    data = load_dataset(spec)
    data = data[data[spec.target].notna()].reset_index(drop=True)
    real = data.sample(30_000, random_state=0).reset_index(drop=True) if quick else data
    requested = 300 if quick else 2000
    ctgan_rows, ctgan_epochs, ctgan_requested = (3000, 1, 50) if quick else (5000, 2, 100)
    filter_rows = 50_000 if quick else 200_000
    fidelity_factor = 3
    profile = profile_reference(real, spec)
    cols = list(spec.features) + [spec.target]

    start = time.perf_counter()
    slices = pick_slices(real, spec)
    print(f"picked {len(slices)} slices in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    slice_info = [
        dict(
            predicate=s.predicate, label_conditioned=w, real_rows=s.support, prevalence=round(s.support / len(real), 5)
        )
        for s, w in slices
    ]
    for info in slice_info:
        print(info, file=sys.stderr)

    # (d) the factory: fit once into a cache, then generate with the warm cache
    sdv_frame = real[cols].copy()
    sdv_frame[spec.target] = sdv_frame[spec.target].astype(int).astype(str)
    plan = [SliceRequest(s, requested, requested if w else int(round(requested * s.positive_share))) for s, w in slices]
    with tempfile.TemporaryDirectory() as tmp:
        plane = DataPlane(Storage(tmp), spec)
        start = time.perf_counter()
        fit_generator(real, spec, plane)
        factory_fit = time.perf_counter() - start
        start = time.perf_counter()
        rows, failures = generate(real, plan, spec, profile, cycle="bench", seed=0, plane=plane)
        factory_seconds = time.perf_counter() - start
        generator, reused = fit_generator(real, spec, plane)
    # sampling alone, as the baselines are timed (generate() above adds the cache lookup: hashing the real rows,
    # loading the fitted generator)
    start = time.perf_counter()
    sampled = sum(len(generator.sample_slice(r, 1000 * i)) for i, r in enumerate(plan))
    factory_sample_seconds = time.perf_counter() - start
    violations = sum(int((~r.blind_spot.mask(rows[rows["_blind_spot_id"] == r.blind_spot.id])).sum()) for r in plan)
    label_mismatch = sum(
        abs(int(rows.loc[rows["_blind_spot_id"] == r.blind_spot.id, spec.target].sum()) - r.positives) for r in plan
    )
    rule_violations = int((~rules_hold(rows, spec.rules)).sum())
    factory_rate = sampled / factory_sample_seconds
    print(
        f"factory: fit {factory_fit:.2f} s, {len(rows)} rows in {factory_seconds:.2f} s, failures {failures}",
        file=sys.stderr,
    )

    # unconditional speed + label fidelity of the factory
    everywhere = spot((), len(real), float(real[spec.target].mean()))
    n_uncond = fidelity_factor * len(real)
    start = time.perf_counter()
    uncond = generator.sample_slice(
        SliceRequest(everywhere, n_uncond, int(round(n_uncond * everywhere.positive_share))), 1
    )
    factory_uncond_rate = len(uncond) / (time.perf_counter() - start)
    fidelity = label_fidelity_gaps(real, uncond, spec)

    # (e) the autoregressive generator: same slices, same interface
    epochs, budget = (10, 120.0) if quick else (20, 400.0)
    argn_spec = replace(
        spec,
        synthesis=replace(spec.synthesis, generator="autoregressive", epochs=epochs, max_fit_seconds=budget),
    )
    start = time.perf_counter()
    argn, _ = fit_generator(real, argn_spec)
    argn_fit = time.perf_counter() - start
    argn_parts, argn_failures = [], []
    start = time.perf_counter()
    for i, r in enumerate(plan):
        try:
            argn_parts.append(argn.sample_slice(r, 1000 * i).assign(_blind_spot_id=r.blind_spot.id))
        except SynthesisError as exc:
            argn_failures.append(str(exc))
    argn_sample_seconds = time.perf_counter() - start
    argn_rows = (
        pd.concat(argn_parts, ignore_index=True) if argn_parts else pd.DataFrame(columns=cols + ["_blind_spot_id"])
    )
    argn_rate = len(argn_rows) / argn_sample_seconds
    argn_violations = sum(
        int((~r.blind_spot.mask(argn_rows[argn_rows["_blind_spot_id"] == r.blind_spot.id])).sum()) for r in plan
    )
    argn_mismatch = sum(
        abs(int(argn_rows.loc[argn_rows["_blind_spot_id"] == r.blind_spot.id, spec.target].sum()) - r.positives)
        for r in plan
    )
    start = time.perf_counter()
    argn_uncond = argn.sample_slice(
        SliceRequest(everywhere, n_uncond, int(round(n_uncond * everywhere.positive_share))), 1
    )
    argn_uncond_rate = len(argn_uncond) / (time.perf_counter() - start)
    argn_fidelity = label_fidelity_gaps(real, argn_uncond, spec)
    print(
        f"argn: fit {argn_fit:.1f} s ({argn.epochs_run} epochs), {len(argn_rows)} rows at {argn_rate:.0f} rows/s, "
        f"failures {argn_failures}",
        file=sys.stderr,
    )

    # (b) + (c) SDV GaussianCopula: unconditional then filter; its own conditional sampling
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer

    start = time.perf_counter()
    with quiet():
        gc = GaussianCopulaSynthesizer(sdv_metadata(sdv_frame, spec))
        gc.fit({TABLE: sdv_frame})
    gc_fit = time.perf_counter() - start
    start = time.perf_counter()
    with quiet():
        gc_rows = gc.sample(num_rows=filter_rows)[TABLE]
    gc_seconds = time.perf_counter() - start
    gc_rows[spec.target] = gc_rows[spec.target].astype(float)
    matches = [
        int(s.mask(gc_rows).sum() if not w else (s.mask(gc_rows) & (gc_rows[spec.target] == 1)).sum())
        for s, w in slices
    ]
    filter_rate = sum(matches) / (gc_seconds * len(slices))  # one unconditional sample per slice
    gc_fidelity = label_fidelity_gaps(real, gc_rows, spec)
    print(f"sdv gc: fit {gc_fit:.1f} s, {filter_rows} rows in {gc_seconds:.1f} s, matches {matches}", file=sys.stderr)
    gc_cond = sdv_conditional(gc, slices, requested, spec, cols)
    print(f"sdv gc conditional: {gc_cond}", file=sys.stderr)

    # (a) SDV CTGAN, small budget, reject sampling of the equality clauses
    ctgan_frame = sdv_frame.sample(min(ctgan_rows, len(sdv_frame)), random_state=0).reset_index(drop=True)
    start = time.perf_counter()
    with quiet():
        ctgan = CTGANSynthesizer(sdv_metadata(ctgan_frame, spec), epochs=ctgan_epochs)
        ctgan.fit({TABLE: ctgan_frame})
    ctgan_fit = time.perf_counter() - start
    reject = sdv_conditional(ctgan, slices, ctgan_requested, spec, cols)
    print(f"ctgan: fit {ctgan_fit:.1f} s, {reject}", file=sys.stderr)

    result = dict(
        quick=quick,
        real_rows=len(real),
        slices=slice_info,
        rows_requested=requested * len(plan),
        rows_generated=len(rows),
        factory_rows_per_s=round(factory_rate, 1),
        factory_generate_rows_per_s=round(len(rows) / factory_seconds, 1),  # end to end, warm generator cache
        reject_rows_per_s=round(reject["rows_per_s"], 2),
        filter_rows_per_s=round(filter_rate, 1),
        sdv_conditional_rows_per_s=round(gc_cond["rows_per_s"], 1),
        speedup_vs_reject=round(factory_rate / reject["rows_per_s"], 1) if reject["rows_per_s"] else None,
        speedup_vs_filter=round(factory_rate / filter_rate, 1) if filter_rate else None,
        speedup_vs_sdv_conditional=round(factory_rate / gc_cond["rows_per_s"], 1) if gc_cond["rows_per_s"] else None,
        factory_failures=len(failures),
        predicate_violations=violations,
        rule_violations=rule_violations,
        label_mix_mismatch=label_mismatch,
        label_fidelity_max_gap=round(fidelity["max"], 4),
        label_fidelity_mean_gap=round(fidelity["mean"], 4),
        label_fidelity_values=len(fidelity["per_value"]),
        label_fidelity_synthetic_rows=len(uncond),
        sdv_gc_label_fidelity_max_gap=round(gc_fidelity["max"], 4),
        sdv_gc_label_fidelity_mean_gap=round(gc_fidelity["mean"], 4),
        factory_unconditional_rows_per_s=round(factory_uncond_rate, 1),
        sdv_gc_unconditional_rows_per_s=round(filter_rows / gc_seconds, 1),
        factory_fit_seconds=round(factory_fit, 2),
        sdv_gc_fit_seconds=round(gc_fit, 2),
        ctgan_fit_seconds=round(ctgan_fit, 1),
        ctgan_fit_rows=len(ctgan_frame),
        ctgan_epochs=ctgan_epochs,
        reject_failures=reject["failures"],
        reject_rows=reject["rows"],
        reject_requested=ctgan_requested * len(slices),
        reject_predicate_violations=reject["violations"],
        reject_per_slice=reject["per_slice"],
        sdv_conditional_failures=gc_cond["failures"],
        sdv_conditional_predicate_violations=gc_cond["violations"],
        filter_matches=matches,
        filter_sampled_rows=filter_rows,
        cache_reused=reused,
        argn_rows_per_s=round(argn_rate, 1),
        argn_speedup_vs_reject=round(argn_rate / reject["rows_per_s"], 1) if reject["rows_per_s"] else None,
        argn_speedup_vs_filter=round(argn_rate / filter_rate, 1) if filter_rate else None,
        argn_failures=len(argn_failures),
        argn_predicate_violations=argn_violations,
        argn_rule_violations=int((~rules_hold(argn_rows, spec.rules)).sum()),
        argn_label_mix_mismatch=argn_mismatch,
        argn_label_fidelity_max_gap=round(argn_fidelity["max"], 4),
        argn_label_fidelity_mean_gap=round(argn_fidelity["mean"], 4),
        argn_label_fidelity_values=len(argn_fidelity["per_value"]),
        argn_unconditional_rows_per_s=round(argn_uncond_rate, 1),
        argn_fit_seconds=round(argn_fit, 1),
        argn_epochs=argn.epochs_run,
    )
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
