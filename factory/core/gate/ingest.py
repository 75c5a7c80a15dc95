"""The ingest gate: a landed batch's file, schema, values and place among the batches.

The file is judged first (base.batchfile): bytes that are no table the spec reads are
refused with one reason. Then Great Expectations' suite from the reference profile and the
spec, and the checks GX has none for (gate.checks). Every finding has a reason code and
one of three actions: `reject` (a broken file or schema: quarantined, a corrected file
lands as a new revision), `poison` (values that would poison training: held out of
training until an operator accepts them, or rejected when the spec's gate.on_poison says
"block"), `warn` (reported; the batch goes on). Thresholds live in the spec's `gate:` block.
This is the only module that builds the ingest suite.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from factory.core.base.batches import period_of, revision_of
from factory.core.base.batchfile import read_batch
from factory.core.base.dataset import BATCH, categorical_strings
from factory.core.base.errors import UnreadableBatch
from factory.core.base.plane import DataPlane
from factory.core.base.profile import MAX_CATEGORIES
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import ReferenceProfile, ValidationOutcome
from factory.core.gate.checks import CHECKS, Finding, value_checks
from factory.core.gate.suite import describe, run_rules, tagged

NUMERIC_TYPES = ["int8", "int16", "int32", "int64", "Int64", "uint8", "float32", "float64", "Float64"]


def ingest_rules(
    spec: DatasetSpec, profile: ReferenceProfile, frame: pd.DataFrame, columns: list[str] | None = None
) -> list[Any]:
    """The suite for a landed batch with rows. Value rules are built only for columns that
    are present and of the right type: a missing or mistyped column is reported once, as
    such, not again by every rule that reads it. `columns` is the reference's column order."""
    import great_expectations.expectations as gxe

    settings = spec.gate
    mean_rows = profile.rows / max(spec.reference_batches, 1)
    rules = [
        tagged(gxe.ExpectTableRowCountToBeBetween(min_value=settings.min_rows), "poison", "too_small"),
        tagged(
            gxe.ExpectTableRowCountToBeBetween(
                min_value=int(mean_rows / settings.row_count_ratio),
                max_value=int(mean_rows * settings.row_count_ratio) + 1,
            ),
            False,
            "row_count",
        ),
    ]
    rules += [tagged(gxe.ExpectColumnToExist(column=c), True, "missing_column") for c in spec.required_columns]
    if columns and set(columns) == set(frame.columns):
        rules.append(tagged(gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(columns)), False, "column_order"))
    for cp in (cp for cp in profile.columns if cp.name in frame.columns):
        values = frame[cp.name]
        if cp.kind == "numeric":
            typed = gxe.ExpectColumnValuesToBeInTypeList(column=cp.name, type_list=NUMERIC_TYPES)
            rules.append(tagged(typed, True, "wrong_type"))
            if cp.min is not None and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                # far outside: a unit or scale error, not drift (bank's employment index moves 3% past its range)
                slack = settings.range_tolerance * max(cp.max - cp.min, abs(cp.min), abs(cp.max), 1.0)
                between = gxe.ExpectColumnValuesToBeBetween(
                    column=cp.name, min_value=cp.min - slack, max_value=cp.max + slack, mostly=settings.range_mostly
                )
                rules.append(tagged(between, "poison", "out_of_range"))
        else:  # a category the reference never had is flagged, however rare; most of a column unseen: recoded
            complete = len(cp.categories) < MAX_CATEGORIES
            known = list(cp.categories)
            rules.append(
                tagged(
                    gxe.ExpectColumnValuesToBeInSet(column=cp.name, value_set=known, mostly=1.0 if complete else 0.95),
                    False,
                    "unseen_category",
                )
            )
            if complete:
                recoded = gxe.ExpectColumnValuesToBeInSet(
                    column=cp.name, value_set=known, mostly=round(1 - settings.max_unseen_share, 6)
                )
                rules.append(tagged(recoded, True, "recoded"))
        if cp.null_share < 0.5:  # mostly present in reference: (nearly) all null rejects
            not_null = gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=(1.0 - cp.null_share) / 2)
            rules.append(tagged(not_null, True, "all_null"))
        elif cp.null_share < 1.0:  # mostly null in reference: all null only warns
            rules.append(tagged(gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=1e-9), False, "all_null"))
        present = 1.0 - cp.null_share - settings.null_tolerance
        if present > 0:
            spike = gxe.ExpectColumnValuesToNotBeNull(column=cp.name, mostly=round(present, 6))
            rules.append(tagged(spike, "poison", "null_spike"))
    ids = [c for c in spec.ids if c in frame.columns]
    if len(ids) == 1:
        rules.append(tagged(gxe.ExpectColumnValuesToBeUnique(column=ids[0]), True, "duplicate_ids"))
    elif ids:
        rules.append(tagged(gxe.ExpectCompoundColumnsToBeUnique(column_list=ids), True, "duplicate_ids"))
    return rules


def validate_batch(
    batch_id: str,
    df: pd.DataFrame,
    spec: DatasetSpec,
    profile: ReferenceProfile,
    columns: list[str] | None = None,
    findings: list[Finding] = (),
    accepted: str = "",
) -> ValidationOutcome:
    """The ingest gate on a frame: each finding names the batch, its code, the column and
    the rule. `columns` is the reference's column order; `findings` are the plane's own (the
    file, the batch's place among the others); `accepted` is an operator's reason to let
    values that would poison training through as warnings."""
    found = list(findings)
    if df.empty:
        found.append(("no_rows", "reject", "table: expect_table_row_count_to_be_between: observed 0 (a header only?)"))
        return _outcome(batch_id, 0, 1, found, spec, accepted)
    frame = _as_reference(df, spec)
    rules = ingest_rules(spec, profile, frame, columns)
    failed, results = run_rules(frame, rules)
    for res in failed:
        meta = res.expectation_config.meta or {}
        found.append((meta.get("code", ""), meta.get("action", "reject"), describe(res)))
    if columns and (extra := [c for c in df.columns if c not in columns]):
        found.append(("extra_column", "warn", f"table: column(s) {extra} are not in the reference"))
    found += value_checks(batch_id, df, spec, profile)
    return _outcome(batch_id, len(df), len(results) + len(spec.rules) + CHECKS, found, spec, accepted)


def _outcome(
    batch_id: str, rows: int, expectations: int, found: list[Finding], spec: DatasetSpec, accepted: str
) -> ValidationOutcome:
    """Findings to a verdict. A column already rejected is not blamed again by its other
    rules; poison blocks as the spec says unless an operator accepted it."""
    rejected = {_column(m) for _, action, m in found if action == "reject"} - {None}
    found = [f for f in found if f[1] == "reject" or _column(f[2]) not in rejected]
    failures, warnings = [], []
    for code, action, message in found:
        if action == "poison" and accepted:
            action, message = "warn", f"{message} [accepted: {accepted}]"
        blocking = action in ("reject", "poison")
        (failures if blocking else warnings).append((code, f"batch {batch_id}: {code}: {message}", action))
    held = bool(failures) and spec.gate.on_poison == "hold" and all(a == "poison" for _, _, a in failures)
    failures.sort(key=lambda f: f[2] != "reject")  # the one-line reason is the worst finding
    return ValidationOutcome(
        batch_id=batch_id,
        rows=rows,
        passed=not failures,
        expectations=expectations,
        failures=tuple(m for _, m, _ in failures),
        warnings=tuple(m for _, m, _ in warnings),
        codes=tuple(c for c, _, _ in failures),
        warning_codes=tuple(c for c, _, _ in warnings),
        held=held,
        accepted=accepted,
    )


def _column(message: str) -> str | None:
    return message.split("'")[1] if message.startswith("column '") else None


def gate_landed(plane: DataPlane, batch_id: str) -> ValidationOutcome:
    """The whole gate on a landed batch: its file, its place among the batches (the same
    bytes under another id; a first revision older than the newest validated batch), then
    its rows. An operator's acceptance (`factory accept`) is honoured."""
    spec, profile = plane.spec, plane.profile()
    accepted = (plane.acceptance(batch_id) or {}).get("reason", "")
    found: list[Finding] = []
    if same := plane.same_content(batch_id):
        found.append(("duplicate_batch", "reject", f"file: the same bytes as batch {same[0]} (landed twice?)"))
    newest = max(plane.validated_batches(), default=None)
    if newest and revision_of(batch_id) == 1 and period_of(batch_id) < period_of(newest):
        found.append(("out_of_order", "poison", f"table: batch period {batch_id} is older than batch {newest}"))
    try:
        data, fmt = plane.landed_bytes(batch_id)
        frame, notes = read_batch(data, fmt, spec.source.options, plane.max_batch_rows())
    except UnreadableBatch as exc:
        found.append((exc.code, "reject", f"file: {exc}"))
        return _outcome(batch_id, 0, 1, found, spec, accepted)
    found += [("file", "warn", f"file: {note}") for note in notes]
    columns = [c for c in plane.reference().columns if c != BATCH]
    return validate_batch(batch_id, frame, spec, profile, columns, found, accepted)


def _as_reference(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Categorical columns as the reference profile spells them ('9', not 9.0), so a
    category check compares like with like; every other column as landed."""
    out = df.copy()
    for col in spec.categorical:
        if col in out.columns:
            out[col] = categorical_strings(out[col])
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
