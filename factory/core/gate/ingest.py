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

from typing import Any

import pandas as pd

from factory.core.base.dataset import categorical_strings
from factory.core.base.errors import SpecError
from factory.core.base.profile import MAX_CATEGORIES
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import ReferenceProfile, ValidationOutcome
from factory.core.gate.suite import describe, run_rules, tagged
from factory.core.synth.codec import rule_masks

NUMERIC_TYPES = ["int8", "int16", "int32", "int64", "Int64", "uint8", "float32", "float64", "Float64"]


def ingest_rules(
    spec: DatasetSpec, profile: ReferenceProfile, columns: list[str] | None = None, rows: int | None = None
) -> list[Any]:
    """The suite for landed production batches. Blocking: no rows, a required column
    missing, a numeric column of another type, a column (nearly) all null that is
    seldom null in reference, duplicated ids. Warnings: column set or order unlike
    reference (`columns`), values outside the reference range plus a tolerance, a
    category the reference never had, more nulls than reference, a batch size far
    from the mean reference batch. Business rules are checked in `validate_batch`."""
    import great_expectations.expectations as gxe

    settings = spec.gate
    rules = [tagged(gxe.ExpectTableRowCountToBeBetween(min_value=1), True)]
    mean_rows = profile.rows / max(spec.reference_batches, 1)
    if rows:  # only meaningful on a non-empty batch; an empty one is already blocked
        rules.append(
            tagged(
                gxe.ExpectTableRowCountToBeBetween(
                    min_value=int(mean_rows / settings.row_count_ratio),
                    max_value=int(mean_rows * settings.row_count_ratio) + 1,
                ),
                False,
            )
        )
    for col in spec.required_columns:
        rules.append(tagged(gxe.ExpectColumnToExist(column=col), True))
    if columns:
        rules.append(tagged(gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(columns)), False))
    for cp in profile.columns:
        if cp.kind == "numeric":
            rules.append(tagged(gxe.ExpectColumnValuesToBeInTypeList(column=cp.name, type_list=NUMERIC_TYPES), True))
            if cp.min is not None:
                span = (cp.max - cp.min) or 1.0
                slack = settings.range_tolerance * span
                rules.append(
                    tagged(
                        gxe.ExpectColumnValuesToBeBetween(
                            column=cp.name,
                            min_value=cp.min - slack,
                            max_value=cp.max + slack,
                            mostly=settings.range_mostly,
                        ),
                        False,
                    )
                )
        else:  # a category the reference never had is flagged, however rare
            complete = len(cp.categories) < MAX_CATEGORIES
            rules.append(
                tagged(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=cp.name, value_set=list(cp.categories), mostly=1.0 if complete else 0.95
                    ),
                    False,
                )
            )
        if cp.null_share < 0.5:  # mostly present in reference: (nearly) all null blocks
            rules.append(
                tagged(gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=(1.0 - cp.null_share) / 2), True)
            )
        elif cp.null_share < 1.0:  # mostly null in reference: all null only warns
            rules.append(tagged(gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=1e-9), False))
        present = 1.0 - cp.null_share - settings.null_tolerance
        if present > 0:
            rules.append(tagged(gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=round(present, 6)), False))
    if len(spec.ids) == 1:
        rules.append(tagged(gxe.ExpectColumnValuesToBeUnique(column=spec.ids[0]), True))
    elif spec.ids:
        rules.append(tagged(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.ids)), True))
    return rules


def validate_batch(
    batch_id: str,
    df: pd.DataFrame,
    spec: DatasetSpec,
    profile: ReferenceProfile,
    columns: list[str] | None = None,
) -> ValidationOutcome:
    """The ingest gate: blocking failures name the batch, the column and the rule.
    `columns` is the reference's column order (a different set or order warns)."""
    failed, results = run_rules(_as_reference(df, spec), ingest_rules(spec, profile, columns, rows=len(df)))
    failures, warnings = [], []
    for res in failed:
        blocking = (res.expectation_config.meta or {}).get("blocking", True)
        (failures if blocking else warnings).append(f"batch {batch_id}: {describe(res)}")
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
            ok = rule_masks(df, [rule])[rule]
        except SpecError as exc:  # a missing column or a wrong type: blocked elsewhere, named here
            out.append(str(exc))
            continue
        if (~ok).any():
            out.append(f"rule '{rule}': {int((~ok).sum())} row(s) break it")
    return out


def outcome_html(outcome: ValidationOutcome, title: str = "Validation") -> str:
    """A readable page of a gate's verdict (what Great Expectations Data Docs would show:
    the blocking failures, the warnings, the counts), for reports/."""
    import html

    def items(lines: tuple[str, ...]) -> str:
        return "".join(f"<li>{html.escape(line)}</li>" for line in lines) or "<li>none</li>"

    verdict = "passed" if outcome.passed else "FAILED (quarantined, nothing downstream runs)"
    state = "" if outcome.passed else "bad"
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(title)} {html.escape(outcome.batch_id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}.bad{{color:#a00}}</style></head><body>
<h1>{html.escape(title)} of batch {html.escape(outcome.batch_id)}:
<span class="{state}">{verdict}</span></h1>
<p>{outcome.rows} rows, {outcome.expectations} expectations, {len(outcome.failures)} blocking failure(s),
{len(outcome.warnings)} warning(s), {outcome.rows_dropped} row(s) dropped.</p>
<h2>Blocking failures</h2><ul class="bad">{items(outcome.failures)}</ul>
<h2>Warnings</h2><ul>{items(outcome.warnings)}</ul></body></html>"""
