"""Great Expectations gates derived from the reference profile and the spec.

The ingest gate blocks a production batch on structural failures (missing column,
wrong type, empty batch, a column (nearly) all null that seldom is in reference,
duplicated ids) and warns on the rest (column order, ranges, new categories, null
shares, batch size, business rules); thresholds live in the spec's `gate:` block.
The synthetic gate drops failing rows (suite, business rules, predicates, copies of
real rows, real PII values); factory.core.quality then judges fidelity and privacy.
This is the only module that imports Great Expectations.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from factory.core.dataset import categorical_strings
from factory.core.profile import MAX_CATEGORIES
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


def ingest_rules(spec: DatasetSpec, profile: ReferenceProfile, columns: list[str] | None = None, rows: int | None = None) -> list[Any]:
    """The suite for landed production batches. Blocking: no rows, a required column
    missing, a numeric column of another type, a column (nearly) all null that is
    seldom null in reference, duplicated ids. Warnings: column set or order unlike
    reference (`columns`), values outside the reference range plus a tolerance, a
    category the reference never had, more nulls than reference, a batch size far
    from the mean reference batch. Business rules are checked in `validate_batch`."""
    import great_expectations.expectations as gxe

    settings = spec.gate
    rules = [_rule(gxe.ExpectTableRowCountToBeBetween(min_value=1), True)]
    mean_rows = profile.rows / max(spec.reference_batches, 1)
    if rows:  # only meaningful on a non-empty batch; an empty one is already blocked
        rules.append(_rule(gxe.ExpectTableRowCountToBeBetween(
            min_value=int(mean_rows / settings.row_count_ratio), max_value=int(mean_rows * settings.row_count_ratio) + 1), False))
    for col in spec.required_columns:
        rules.append(_rule(gxe.ExpectColumnToExist(column=col), True))
    if columns:
        rules.append(_rule(gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(columns)), False))
    for cp in profile.columns:
        if cp.kind == "numeric":
            rules.append(_rule(gxe.ExpectColumnValuesToBeInTypeList(column=cp.name, type_list=NUMERIC_TYPES), True))
            if cp.min is not None:
                span = (cp.max - cp.min) or 1.0
                slack = settings.range_tolerance * span
                rules.append(_rule(gxe.ExpectColumnValuesToBeBetween(
                    column=cp.name, min_value=cp.min - slack, max_value=cp.max + slack, mostly=settings.range_mostly), False))
        else:  # a category the reference never had is flagged, however rare
            complete = len(cp.categories) < MAX_CATEGORIES
            rules.append(_rule(gxe.ExpectColumnValuesToBeInSet(
                column=cp.name, value_set=list(cp.categories), mostly=1.0 if complete else 0.95), False))
        if cp.null_share < 0.5:  # mostly present in reference: (nearly) all null blocks
            rules.append(_rule(gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=(1.0 - cp.null_share) / 2), True))
        elif cp.null_share < 1.0:  # mostly null in reference: all null only warns
            rules.append(_rule(gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=1e-9), False))
        present = 1.0 - cp.null_share - settings.null_tolerance
        if present > 0:
            rules.append(_rule(gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=round(present, 6)), False))
    if len(spec.ids) == 1:
        rules.append(_rule(gxe.ExpectColumnValuesToBeUnique(column=spec.ids[0]), True))
    elif spec.ids:
        rules.append(_rule(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.ids)), True))
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


def validate_batch(
    batch_id: str, df: pd.DataFrame, spec: DatasetSpec, profile: ReferenceProfile, columns: list[str] | None = None,
) -> ValidationOutcome:
    """The ingest gate: blocking failures name the batch, the column and the rule.
    `columns` is the reference's column order (a different set or order warns)."""
    failed, results = run_rules(_as_reference(df, spec), ingest_rules(spec, profile, columns, rows=len(df)))
    failures, warnings = [], []
    for res in failed:
        blocking = (res.expectation_config.meta or {}).get("blocking", True)
        (failures if blocking else warnings).append(f"batch {batch_id}: {_describe(res)}")
    warnings += [f"batch {batch_id}: {w}" for w in rule_violations(df, spec)]
    return ValidationOutcome(
        batch_id=batch_id,
        rows=len(df),
        passed=not failures,
        expectations=len(results) + len(spec.rules),
        failures=tuple(failures),
        warnings=tuple(warnings),
    )


def _as_reference(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Categorical columns as the reference profile spells them ('9', not 9.0), so a
    category check compares like with like; every other column as landed."""
    out = df.copy()
    for col in spec.categorical:
        if col in out.columns:
            out[col] = categorical_strings(out[col])
    return out


def rule_violations(df: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """The spec's business rules on a production batch: real rows may break them, so
    they warn with a count (on synthetic rows they drop the row)."""
    out = []
    for rule in spec.rules:
        if df.empty:
            break
        try:
            ok = df.eval(rule).fillna(False).astype(bool)
        except Exception as exc:  # a missing column or a wrong type: blocked elsewhere, named here
            out.append(f"rule '{rule}': could not be evaluated ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        if (~ok).any():
            out.append(f"rule '{rule}': {int((~ok).sum())} row(s) break it")
    return out


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


def outcome_html(outcome: ValidationOutcome, title: str = "Validation") -> str:
    """A readable page of a gate's verdict (what Great Expectations Data Docs would show:
    the blocking failures, the warnings, the counts), for reports/."""
    import html

    def items(lines: tuple[str, ...]) -> str:
        return "".join(f"<li>{html.escape(line)}</li>" for line in lines) or "<li>none</li>"

    verdict = "passed" if outcome.passed else "FAILED (quarantined, nothing downstream runs)"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)} {html.escape(outcome.batch_id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}.bad{{color:#a00}}</style></head><body>
<h1>{html.escape(title)} of batch {html.escape(outcome.batch_id)}: <span class="{'' if outcome.passed else 'bad'}">{verdict}</span></h1>
<p>{outcome.rows} rows, {outcome.expectations} expectations, {len(outcome.failures)} blocking failure(s),
{len(outcome.warnings)} warning(s), {outcome.rows_dropped} row(s) dropped.</p>
<h2>Blocking failures</h2><ul class="bad">{items(outcome.failures)}</ul>
<h2>Warnings</h2><ul>{items(outcome.warnings)}</ul></body></html>"""
