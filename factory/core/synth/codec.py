"""Rows as numbers and back, predicates as sorted-value intervals, and the spec's
business rules: what every generator shares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.core.base.errors import SpecError, SynthesisError
from factory.core.base.types import BlindSpot

RULE_RETRIES = 20


def encode(df: pd.DataFrame, columns: list[str], categories: dict[str, list]) -> np.ndarray:
    """Numbers as they are; categories as codes in frequency order (NaN stays NaN)."""
    out = np.empty((len(df), len(columns)))
    for j, col in enumerate(columns):
        if col in categories:
            codes = {v: i for i, v in enumerate(categories[col])}
            out[:, j] = df[col].map(codes).astype(float).to_numpy()
        else:
            out[:, j] = pd.to_numeric(df[col], errors="coerce").astype(float).to_numpy()
    return out


def decode(x: np.ndarray, columns: list[str], categories: dict[str, list]) -> pd.DataFrame:
    data = {}
    for j, col in enumerate(columns):
        if col in categories:
            cats = np.array(categories[col] + [None], dtype=object)
            codes = np.where(np.isnan(x[:, j]), len(cats) - 1, x[:, j]).astype(int)
            data[col] = cats[codes]
        else:
            data[col] = x[:, j]
    return pd.DataFrame(data)


def draw_with_rules(sample, rows: int, rules: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """`sample(n)` -> n decoded rows; rows breaking a business rule are redrawn (those
    still breaking one after RULE_RETRIES rounds are dropped)."""
    parts, need = [], rows
    for _ in range(RULE_RETRIES + 1):
        part = sample(need)
        part = part[rules_hold(part, rules)]
        parts.append(part)
        need -= len(part)
        if need == 0:
            break
    return pd.concat(parts, ignore_index=True)


def rule_masks(rows: pd.DataFrame, rules: tuple[str, ...] | list[str]) -> dict[str, pd.Series]:
    """Per business rule, True where a row keeps it (a missing value breaks it). The one
    place rules are evaluated: the ingest gate counts breaches, the synthetic gate drops
    them, generators redraw them. Raises SpecError naming a rule that cannot be evaluated."""
    columns = {
        c: rows[c] for c in rows.columns
    }  # resolvers built once: DataFrame.eval rebuilds them per call (5x slower)
    out = {}
    for rule in rules:
        try:
            value = pd.eval(rule, resolvers=(columns,))
        except Exception as exc:  # pandas raises many types: a missing column, a wrong type, bad syntax
            raise SpecError(f"rule '{rule}' could not be evaluated ({type(exc).__name__}: {str(exc)[:80]})") from None
        out[rule] = pd.Series(value, index=rows.index).fillna(False).astype(bool)
    return out


def rules_hold(rows: pd.DataFrame, rules: tuple[str, ...] | list[str]) -> pd.Series:
    """True where a row satisfies every business rule of the spec."""
    ok = pd.Series(True, index=rows.index)
    for mask in rule_masks(rows, rules).values():
        ok &= mask
    return ok


def predicate_box(
    spot: BlindSpot, columns: list[str], categories: dict[str, list], sorted_values: np.ndarray
) -> dict[int, tuple[int, int]] | None:
    """The slice as intervals [i0, i1) of each conditioned column's sorted encoded values
    (NaN last, so missing values are a block too); None when some clause holds no value
    (an empty range or an unseen category). Generators sample inside these intervals, so
    every row satisfies its predicate exactly."""
    box: dict[int, tuple[int, int]] = {}
    n = len(sorted_values)
    for c in spot.conditions:
        if c.column not in columns:
            raise SynthesisError(f"blind spot {spot.id} ({spot.predicate}): column '{c.column}' is not a feature")
        j = columns.index(c.column)
        col, value = sorted_values[:, j], c.value
        if c.column in categories and c.op != "is_null":
            if c.op != "==" or value not in categories[c.column]:
                return None
            value = float(categories[c.column].index(value))
        present = int(np.searchsorted(col, np.nan, side="left"))
        if c.op == "==":
            i0, i1 = int(np.searchsorted(col, value, "left")), int(np.searchsorted(col, value, "right"))
        elif c.op == ">=":
            i0, i1 = int(np.searchsorted(col, value, "left")), present
        elif c.op == "<":
            i0, i1 = 0, int(np.searchsorted(col, value, "left"))
        elif c.op == "is_null":
            i0, i1 = present, n
        else:
            raise SynthesisError(f"unknown operator {c.op!r}")
        p0, p1 = box.get(j, (0, n))
        box[j] = (max(i0, p0), min(i1, p1))
        if box[j][0] >= box[j][1]:
            return None
    return box


def impossible(spot: BlindSpot) -> SynthesisError:
    return SynthesisError(
        f"blind spot {spot.id} ({spot.predicate}) is impossible: no real row of the data the generator was "
        "fitted on holds a value inside one of its clauses (empty range or unseen category)"
    )
