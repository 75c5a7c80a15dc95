"""The synthetic row gate: rows that fail the suite, a business rule, their predicate,
or copy a real row are dropped; a structural failure rejects the batch.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from factory.core.base.dataset import exact_copies
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import BlindSpot, ReferenceProfile, ValidationOutcome
from factory.core.gate.suite import describe, run_rules, tagged
from factory.core.synth.codec import rule_masks

LINEAGE_COLUMNS = ("_synthetic", "_generator", "_generator_version", "_seed", "_blind_spot_id", "_cycle", "_fitted_on")


def synthetic_rules(spec: DatasetSpec, profile: ReferenceProfile) -> list[Any]:
    """Row-level suite for synthetic batches: values inside the reference ranges and
    category sets, no nulls where reference has none, lineage complete."""
    import great_expectations.expectations as gxe

    rules = []
    for cp in profile.columns:
        if cp.kind == "numeric" and cp.min is not None:
            rules.append(
                tagged(gxe.ExpectColumnValuesToBeBetween(column=cp.name, min_value=cp.min, max_value=cp.max), False)
            )
        elif cp.kind == "categorical":
            rules.append(tagged(gxe.ExpectColumnValuesToBeInSet(column=cp.name, value_set=list(cp.categories)), False))
        if cp.null_share == 0.0:
            rules.append(tagged(gxe.ExpectColumnValuesToNotBeNull(column=cp.name), False))
    rules.append(tagged(gxe.ExpectColumnValuesToBeInSet(column=spec.target, value_set=[0.0, 1.0]), False))
    for col in LINEAGE_COLUMNS:
        rules.append(tagged(gxe.ExpectColumnToExist(column=col), True))
        rules.append(tagged(gxe.ExpectColumnValuesToNotBeNull(column=col), False))
    return rules


def gate_synthetic(
    batch_id: str,
    synthetic: pd.DataFrame,
    real_training: pd.DataFrame,
    spec: DatasetSpec,
    profile: ReferenceProfile,
    blind_spots: list[BlindSpot],
) -> tuple[pd.DataFrame, ValidationOutcome]:
    """Drop synthetic rows that fail the suite, break a business rule, leave their
    blind spot's predicate, or copy a real training row. Returns (accepted, outcome)."""
    if synthetic.empty:
        return synthetic, ValidationOutcome(batch_id, 0, True, 0)
    frame = synthetic.reset_index(drop=True)
    failed, results = run_rules(frame, synthetic_rules(spec, profile), rows=True)
    bad = pd.Series(False, index=frame.index)
    reasons: dict[str, int] = {}
    failures = []
    for res in failed:
        idx = (res.result or {}).get("unexpected_index_list")
        if idx is None:  # a table-level failure (e.g. a lineage column missing) rejects all
            failures.append(f"batch {batch_id}: {describe(res)}")
            bad[:] = True
            continue
        bad.iloc[list(idx)] = True
        reasons[describe(res)] = len(idx)
    if failures:  # structural (a column missing): every row is rejected; the row checks below need the columns
        return frame.iloc[:0], ValidationOutcome(
            batch_id=batch_id,
            rows=len(frame),
            passed=False,
            expectations=len(results),
            failures=tuple(failures),
            rows_dropped=len(frame),
        )
    for rule, ok in rule_masks(frame, spec.rules).items():
        bad |= ~ok
        if (~ok).any():
            reasons[f"rule '{rule}'"] = int((~ok).sum())
    spots = {b.id: b for b in blind_spots}
    for spot_id, rows in frame.groupby("_blind_spot_id").groups.items():
        spot = spots.get(spot_id)
        if spot is None:
            continue
        outside = ~spot.mask(frame.loc[rows])
        bad.loc[outside[outside].index] = True
        if outside.any():
            reasons[f"predicate of {spot_id} ({spot.predicate})"] = int(outside.sum())
    copies = exact_copies(frame, real_training, list(spec.features))
    bad |= copies
    if copies.any():
        reasons["exact copy of a real training row"] = int(copies.sum())
    for col in spec.pii:  # a PII column never carries a real value into synthetic output
        if col in frame.columns and col in real_training.columns:
            leaked = frame[col].isin(set(real_training[col].dropna()))
            bad |= leaked
            if leaked.any():
                reasons[f"PII column '{col}' holds a real value"] = int(leaked.sum())
    accepted = frame[~bad].reset_index(drop=True)
    warnings = tuple(f"{n} row(s) dropped: {why}" for why, n in reasons.items())
    return accepted, ValidationOutcome(
        batch_id=batch_id,
        rows=len(frame),
        passed=not failures,
        expectations=len(results) + len(spec.rules) + 2,
        failures=tuple(failures),
        warnings=warnings,
        rows_dropped=int(bad.sum()),
    )
