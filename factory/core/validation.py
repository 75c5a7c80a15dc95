"""Great Expectations gates derived from the reference profile and the spec.

The ingest gate blocks a production batch on structural failures (missing column,
wrong type, empty batch, a column all null that never is in reference) and warns
on the rest. The synthetic gate drops failing rows. This is the only module that
imports Great Expectations.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from factory.core.spec import DatasetSpec
from factory.core.types import BlindSpot, ReferenceProfile, ValidationOutcome

NUMERIC_TYPES = ["int8", "int16", "int32", "int64", "Int64", "uint8", "float32", "float64", "Float64"]
LINEAGE_COLUMNS = ("_synthetic", "_generator", "_generator_version", "_seed", "_blind_spot_id", "_cycle", "_fitted_on")


def _rule(expectation: Any, blocking: bool) -> Any:
    """Tag an expectation: a blocking failure rejects the whole batch."""
    expectation.meta = {**(expectation.meta or {}), "blocking": blocking}
    return expectation


@functools.cache
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = ctx.data_sources.add_pandas("factory").add_dataframe_asset("batch").add_batch_definition_whole_dataframe("whole")
    return ctx, batch_def


def ingest_rules(spec: DatasetSpec, profile: ReferenceProfile) -> list[Any]:
    """The suite for landed production batches."""
    import great_expectations.expectations as gxe

    rules = [_rule(gxe.ExpectTableRowCountToBeBetween(min_value=1), True)]
    for col in spec.required_columns:
        rules.append(_rule(gxe.ExpectColumnToExist(column=col), True))
    for cp in profile.columns:
        if cp.kind == "numeric":
            rules.append(_rule(gxe.ExpectColumnValuesToBeInTypeList(column=cp.name, type_list=NUMERIC_TYPES), True))
            if cp.min is not None:
                span = (cp.max - cp.min) or 1.0
                rules.append(_rule(gxe.ExpectColumnValuesToBeBetween(
                    column=cp.name, min_value=cp.min - 0.5 * span, max_value=cp.max + 0.5 * span, mostly=0.99), False))
        else:
            rules.append(_rule(gxe.ExpectColumnValuesToBeInSet(column=cp.name, value_set=list(cp.categories), mostly=0.95), False))
        if cp.null_share == 0.0:
            rules.append(_rule(gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=0.5), True))
    return rules


def synthetic_rules(spec: DatasetSpec, profile: ReferenceProfile) -> list[Any]:
    """Row-level suite for synthetic batches: values inside the reference ranges and
    category sets, no nulls where reference has none, lineage complete."""
    import great_expectations.expectations as gxe

    rules = []
    for cp in profile.columns:
        if cp.kind == "numeric" and cp.min is not None:
            rules.append(_rule(gxe.ExpectColumnValuesToBeBetween(column=cp.name, min_value=cp.min, max_value=cp.max), False))
        elif cp.kind == "categorical":
            rules.append(_rule(gxe.ExpectColumnValuesToBeInSet(column=cp.name, value_set=list(cp.categories)), False))
        if cp.null_share == 0.0:
            rules.append(_rule(gxe.ExpectColumnValuesToNotBeNull(column=cp.name), False))
    rules.append(_rule(gxe.ExpectColumnValuesToBeInSet(column=spec.target, value_set=[0.0, 1.0]), False))
    for col in LINEAGE_COLUMNS:
        rules.append(_rule(gxe.ExpectColumnToExist(column=col), True))
        rules.append(_rule(gxe.ExpectColumnValuesToNotBeNull(column=col), False))
    return rules


def _describe(result: Any) -> str:
    cfg = result.expectation_config
    column = cfg.kwargs.get("column")
    where = f"column '{column}'" if column else "table"
    detail = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        msg = str(result.exception_info.get("exception_message", "")).splitlines()[0][:160]
        return f"{where}: {cfg.type}: could not be evaluated ({msg})"
    if "unexpected_count" in detail:
        shown = [str(v) for v in (detail.get("partial_unexpected_list") or [])[:3]]
        return f"{where}: {cfg.type}: {detail['unexpected_count']} unexpected value(s), e.g. {shown}"
    return f"{where}: {cfg.type}: observed {detail.get('observed_value')!r}"


def run_rules(df: pd.DataFrame, rules: list[Any]) -> tuple[list[Any], list[Any]]:
    """Validate with Great Expectations; returns (failed results, all results)."""
    import great_expectations as gx

    ctx, batch_def = _context()
    suite = gx.ExpectationSuite(name="factory-suite", expectations=rules)
    batch = batch_def.get_batch(batch_parameters={"dataframe": df.reset_index(drop=True)})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    failed = [r for r in result.results if not r.success]
    return failed, list(result.results)


def validate_batch(batch_id: str, df: pd.DataFrame, spec: DatasetSpec, profile: ReferenceProfile) -> ValidationOutcome:
    """The ingest gate: blocking failures name the batch, the column and the rule."""
    failed, results = run_rules(df, ingest_rules(spec, profile))
    failures, warnings = [], []
    for res in failed:
        blocking = (res.expectation_config.meta or {}).get("blocking", True)
        (failures if blocking else warnings).append(f"batch {batch_id}: {_describe(res)}")
    return ValidationOutcome(
        batch_id=batch_id,
        rows=len(df),
        passed=not failures,
        expectations=len(results),
        failures=tuple(failures),
        warnings=tuple(warnings),
    )


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
    failed, results = run_rules(frame, synthetic_rules(spec, profile))
    bad = pd.Series(False, index=frame.index)
    reasons: dict[str, int] = {}
    failures = []
    for res in failed:
        idx = (res.result or {}).get("unexpected_index_list")
        if idx is None:  # a table-level failure (e.g. a lineage column missing) rejects all
            failures.append(f"batch {batch_id}: {_describe(res)}")
            bad[:] = True
            continue
        bad.iloc[list(idx)] = True
        reasons[_describe(res)] = len(idx)
    if failures:  # structural (a column missing): every row is rejected; the row checks below need the columns
        return frame.iloc[:0], ValidationOutcome(
            batch_id=batch_id, rows=len(frame), passed=False, expectations=len(results),
            failures=tuple(failures), rows_dropped=len(frame),
        )
    for rule in spec.rules:
        ok = frame.eval(rule).fillna(False).astype(bool)
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


def exact_copies(synthetic: pd.DataFrame, real: pd.DataFrame, columns: list[str]) -> pd.Series:
    """True for synthetic rows whose features equal some real row's exactly."""
    real_keys = set(_row_keys(real, columns))
    syn_keys = _row_keys(synthetic, columns)
    return pd.Series([k in real_keys for k in syn_keys], index=synthetic.index)


def _row_keys(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A hash per row that ignores the dtype (the generator emits int 2 where real rows
    hold float 2.0) and the kind of missing value (NaN or None)."""
    parts = {}
    for col in columns:
        values = df[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            values = values.astype(float)
        parts[col] = values.astype(str).where(values.notna(), "<NA>")
    return pd.util.hash_pandas_object(pd.DataFrame(parts, index=df.index), index=False).to_numpy()
