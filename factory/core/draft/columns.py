"""What each column of a new dataset is, with why: a feature (numeric, integer or categorical),
an id, leakage, PII, or unused; and the simple rules its values never break.

Suggestions only: each carries the measurement or the pattern behind it, so a person can
accept or delete it. A column that alone predicts the target almost perfectly on the
reference period is treated as leakage (it is usually written after the outcome); one that
predicts it strongly keeps its place with a warning, since only the data's owner knows when
it is written (bank's call `duration` is such a column).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory.core.base.profile import MAX_CATEGORIES
from factory.core.measure.metrics import roc_auc

NEAR_PERFECT = 0.95  # single-column ROC AUC (either direction) from which a column is leakage
STRONG = 0.8  # ... and from which a feature carries a warning
ID_VALUES = 20  # whole numbers stored as floats (they have gaps) with more distinct values: a code, not a count
CO_ZERO = 30  # a sum rule needs this many rows where unrelated columns would all be 0 together
LEAKY_NAME = re.compile(r"status|result|resolution|(closed|resolved|cancel\w*|outcome|end)_?(date|time|at|on)$", re.I)
ID_NAME = re.compile(r"(^|_|\b)(id|uuid|guid|key|code|zip|zipcode|postcode)$", re.I)
PII_NAME = re.compile(
    r"e-?mail|phone|mobile|ssn|passport|iban|card_?num|address|(^|_)((first|last|full|sur|given|family)_?)?name$", re.I
)
EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
PHONE = r"\+?[\d\s().-]{7,}"


@dataclass(frozen=True)
class Column:
    """One column's suggested role and why."""

    name: str
    role: str  # numeric | categorical | ids | leakage | pii | unused
    why: str
    integer: bool = False  # numeric with whole values only


def column_roles(raw: pd.DataFrame, skip: set[str], labels: pd.Series, reference: pd.Series) -> list[Column]:
    """A role for every column not in `skip` (the target and the clock). `raw` is in time
    order; `labels` the target as 0/1; `reference` marks the reference period's rows."""
    known = reference & labels.notna()
    return [_role(str(c), raw[c], labels[known], known) for c in raw.columns if c not in skip]


def _role(name: str, values: pd.Series, y: pd.Series, known: pd.Series) -> Column:
    present = values.dropna()
    distinct = int(present.nunique())
    if pii := _pii(name, present):
        return Column(name, "pii", pii)
    if distinct <= 1:
        return Column(name, "unused", "constant: nothing to learn from")
    text = not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))
    whole = not text and bool((present.astype(float) % 1 == 0).all())
    if distinct == len(values) and (whole or text):
        return Column(name, "ids", "unique per row: it names a row, it predicts nothing")
    if LEAKY_NAME.search(name):
        return Column(name, "leakage", "named like something written after the outcome (status, result, its date)")
    auc = single_auc(values[known], y, text)
    if auc is not None and auc >= NEAR_PERFECT:
        return Column(name, "leakage", f"alone it predicts the target with ROC AUC {auc:.3f} on the reference period")
    strong = auc is not None and auc >= STRONG
    warn = f"; alone ROC AUC {auc:.2f}: if it is written after the outcome, move it to leakage" if strong else ""
    if pd.api.types.is_bool_dtype(values):
        return Column(name, "categorical", "true/false" + warn)
    if text and _dates(present):
        return Column(name, "unused", "dates or times: derive a number from them (days since ...) if they matter")
    if text and distinct > MAX_CATEGORIES:
        return Column(name, "unused", f"text with {distinct} distinct values: too many to slice or learn as categories")
    if text:
        return Column(name, "categorical", f"{distinct} values" + warn)
    if whole and (ID_NAME.search(name) or (values.dtype.kind == "f" and values.isna().any() and distinct > ID_VALUES)):
        because = "named like an id" if ID_NAME.search(name) else "whole numbers stored with gaps (missing values)"
        return Column(name, "categorical", f"id-like: {because}, {distinct} values: a code, not a quantity" + warn)
    span = f"{present.min():g} to {present.max():g}, {distinct} values" + (", whole numbers" if whole else "")
    return Column(name, "numeric", span + warn, integer=whole)


def single_auc(values: pd.Series, y: pd.Series, categorical: bool) -> float | None:
    """ROC AUC of one column alone for the target, either direction. A numeric column scores
    by its value; a categorical one by its value's positive share in the first half (in time)
    scored on the second, so a value seen only once cannot look perfect."""
    if y.nunique() < 2 or len(y) < 20:
        return None
    if categorical or not pd.api.types.is_numeric_dtype(values):
        half = len(values) // 2
        keys = values.astype(str)
        rates = y.iloc[:half].groupby(keys.iloc[:half].to_numpy()).mean()
        score, y = keys.iloc[half:].map(rates).fillna(y.iloc[:half].mean()), y.iloc[half:]
    else:
        score = values.astype(float).fillna(values.median())
    if y.nunique() < 2:
        return None
    auc = float(roc_auc(y.to_numpy(float), score.to_numpy(float), np.ones((1, len(y))))[0])
    return max(auc, 1 - auc)


def _pii(name: str, present: pd.Series) -> str:
    """Why a column looks like personal data, or ''."""
    if PII_NAME.search(name):
        return "named like personal data (name, e-mail, phone, address): never a feature, checked in synthetic rows"
    if pd.api.types.is_numeric_dtype(present) or _dates(present):
        return ""
    sample = present.astype(str).head(500)
    for pattern, what in ((EMAIL, "e-mail addresses"), (PHONE, "phone numbers")):
        if sample.str.fullmatch(pattern).mean() >= 0.5:
            return f"values look like {what}: personal data, never a feature"
    return ""


def _dates(present: pd.Series) -> bool:
    sample = present.astype(str).head(200)
    if not sample.str.contains(r"\d[-/:.]\d", regex=True).mean() >= 0.9:
        return False
    return pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean() >= 0.9


def draft_rules(raw: pd.DataFrame, numeric: list[Column]) -> list[tuple[str, str]]:
    """(rule, why): a lower bound for every complete numeric column that never goes below 0
    (or, for whole numbers, 1), and sums of whole-number columns that are each often 0 but
    never all 0 together. Columns with missing values are left out: a missing value breaks a
    rule, and real rows should keep every rule."""
    usable = [c for c in numeric if c.name.isidentifier() and raw[c.name].notna().all()]
    rules, zeros = [], {}
    for c in usable:
        low = float(raw[c.name].min())
        if c.integer and low >= 1:
            rules.append((f"{c.name} >= 1", f"never below 1 in {len(raw)} rows"))
        elif low >= 0:
            rules.append((f"{c.name} >= 0", f"never negative in {len(raw)} rows"))
            if c.integer and low == 0:
                zeros[c.name] = (raw[c.name] == 0).to_numpy()
    found: list[tuple[str, ...]] = []
    for size in (2, 3):
        for group in itertools.combinations(zeros, size):
            if any(set(f) <= set(group) for f in found) or np.logical_and.reduce([zeros[c] for c in group]).any():
                continue
            expected = len(raw) * float(np.prod([zeros[c].mean() for c in group]))
            if expected >= CO_ZERO:
                found.append(group)
                rules.append(
                    (
                        " + ".join(group) + " >= 1",
                        f"never all 0 together, where unrelated columns would be about {expected:.0f} times",
                    )
                )
    return rules
