"""Checks of a landed batch that Great Expectations has no expectation for: values that
would poison training (non-finite numbers, a constant label, an exploding category, rows
landed twice, business rules broken wholesale), text a spreadsheet would run as a formula,
and rows outside the batch's own period. Each finding is (code, action, message); the
action is one of suite.ACTIONS."""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.core.base.batches import period_of
from factory.core.base.clock import batch_ids, row_times
from factory.core.base.errors import DataSourceError, SpecError
from factory.core.base.profile import MAX_CATEGORIES, duplicate_share
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import ReferenceProfile
from factory.core.synth.codec import rule_masks

Finding = tuple[str, str, str]  # (reason code, action, "column 'x': what: detail")
FORMULA = r"^[=+@\t\r]|^-[^\d.\s]"  # what Excel and its kin would evaluate
CHECKS = 7  # the checks below besides the business rules, for the count of expectations


def value_checks(batch_id: str, df: pd.DataFrame, spec: DatasetSpec, profile: ReferenceProfile) -> list[Finding]:
    """Every check below on a batch with rows."""
    return [
        *_non_finite(df, spec),
        *_constant_label(df, spec),
        *_label_coding(df, spec),
        *_category_explosion(df, profile),
        *_duplicate_rows(df, spec, profile),
        *_rules(df, spec),
        *_formulas(df, spec),
        *_period(batch_id, df, spec),
    ]


def _non_finite(df: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    out = []
    for col in spec.numeric:
        if col in df and pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            n = int(np.isinf(df[col].to_numpy(dtype=float)).sum())
            if n:
                out.append(("non_finite", "poison", f"column '{col}': non-finite values: {n} row(s) hold +/-inf"))
    return out


def _constant_label(df: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    if spec.target not in df:
        return []
    labels = df[spec.target].dropna()
    if len(labels) < max(spec.gate.min_rows, 1) or labels.astype(str).nunique() != 1:
        return []
    value = labels.iloc[0]
    return [("constant_label", "poison", f"column '{spec.target}': constant label: all {len(labels)} rows are {value}")]


def _label_coding(df: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """A binary label spelled more than two ways (yes / true / 1) would be read as mostly negative."""
    if spec.target not in df:
        return []
    distinct = df[spec.target].dropna().astype(str).unique()
    if len(distinct) <= 2:
        return []
    seen = ", ".join(map(repr, sorted(distinct)[:5]))
    return [
        (
            "label_coding",
            "reject",
            f"column '{spec.target}': a binary label with {len(distinct)} spellings ({seen}); the positive one is "
            f"{spec.positive_label!r}",
        )
    ]


def _category_explosion(df: pd.DataFrame, profile: ReferenceProfile) -> list[Finding]:
    out = []
    for cp in profile.columns:
        if cp.kind != "categorical" or cp.name not in df or len(cp.categories) >= MAX_CATEGORIES:
            continue
        distinct, limit = int(df[cp.name].nunique()), 2 * len(cp.categories) + 20
        if distinct > limit:
            out.append(
                (
                    "category_explosion",
                    "poison",
                    f"column '{cp.name}': category count explosion: {distinct} distinct values, "
                    f"the reference has {len(cp.categories)} (at most {limit} expected)",
                )
            )
    return out


def _duplicate_rows(df: pd.DataFrame, spec: DatasetSpec, profile: ReferenceProfile) -> list[Finding]:
    """Rows landed twice: a repeat share far above any reference batch's, or every distinct
    row an even number of times (the same file appended to itself)."""
    columns = [c for c in (*spec.features, *spec.time_columns, spec.target) if c in df]
    share = duplicate_share(df, spec)
    counts = df.groupby(columns, dropna=False, sort=False).size() if columns else pd.Series(dtype=int)
    doubled = len(counts) >= 20 and bool((counts % 2 == 0).mean() >= 0.95)
    if share > profile.duplicate_share + 0.25 or doubled:
        return [
            (
                "duplicate_rows",
                "poison",
                f"table: duplicate rows: {share:.0%} of rows repeat an earlier one "
                f"(reference batches at most {profile.duplicate_share:.0%})"
                + ("; every row appears an even number of times (landed twice?)" if doubled else ""),
            )
        ]
    return []


def _rules(df: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Real rows may break a business rule now and then (a warning with a count); a share
    above gate.max_rule_share would teach the model the breach."""
    out = []
    for rule in spec.rules:
        try:
            broken = int((~rule_masks(df, [rule])[rule]).sum())
        except SpecError as exc:  # a missing column or a wrong type: rejected elsewhere, named here
            out.append(("rule", "warn", str(exc)))
            continue
        if broken:
            poison = broken > spec.gate.max_rule_share * len(df)
            out.append(
                (
                    "rule_violation" if poison else "rule",
                    "poison" if poison else "warn",
                    f"rule '{rule}': {broken} row(s) break it ({broken / len(df):.1%}; at most "
                    f"{spec.gate.max_rule_share:.0%} may)",
                )
            )
    return out


def _formulas(df: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    out = []
    for col in df.columns:
        if col in spec.numeric or not (pd.api.types.is_object_dtype(df[col]) or pd.api.types.is_string_dtype(df[col])):
            continue
        text = df[col].dropna().astype(str)
        hits = text[text.str.contains(FORMULA, regex=True)]
        if len(hits):
            out.append(
                (
                    "formula_injection",
                    "reject",
                    f"column '{col}': spreadsheet formula injection: {len(hits)} value(s) a spreadsheet would "
                    f"run, e.g. {hits.iloc[0][:40]!r}",
                )
            )
    return out


def _period(batch_id: str, df: pd.DataFrame, spec: DatasetSpec) -> list[Finding]:
    """Rows whose time columns place them outside the batch's period (another unit, another
    time zone, dates in the future). Without a year column only the month can be checked;
    data with no clock (row_order) has nothing to check."""
    columns = [c for c in spec.time_columns if c in df]
    if spec.period == "rows" or len(columns) < len(spec.time_columns):
        return []  # a missing time column is rejected as missing
    try:
        times = row_times(df, spec)
        ids = batch_ids(df, spec, times)
    except (DataSourceError, ValueError, TypeError, OverflowError) as exc:
        return [("bad_time", "reject", f"column(s) {columns}: unreadable time values ({str(exc)[:120]})")]
    years = times.dt.year
    if times.isna().any() or not years.between(1000, 9999).all():
        odd = df.loc[times.isna() | ~years.between(1000, 9999), columns].head(1).to_numpy().ravel().tolist()
        return [("bad_time", "reject", f"column(s) {columns}: {odd} is no time (another unit?)")]
    period = period_of(batch_id)
    if not spec.time.year:  # the year is rebuilt from the order of the whole dataset: compare months
        ids, period = ids.str[-2:], period[-2:]
    later, earlier = ids > period, ids < period
    if later.any():
        first = ids[later].iloc[0]
        return [
            (
                "future_dates",
                "reject",
                f"column(s) {columns}: dates in the future: {int(later.sum())} row(s) after {period}, e.g. {first}",
            )
        ]
    if earlier.any():
        first = ids[earlier].iloc[0]
        return [
            (
                "period_mismatch",
                "reject",
                f"column(s) {columns}: {int(earlier.sum())} row(s) fall outside batch period {period}, e.g. {first} "
                "(another unit or time zone?)",
            )
        ]
    return []
