"""What the factory cannot take, said plainly when a dataset is read (base.dataset.load_dataset),
so `factory spec init` and every later load refuse alike. Each refusal names the column or
setting and what to do instead:

- a target with more than two values (multi-class or numeric): the loop learns one yes/no outcome;
- a positive_label the target never takes;
- a batch period finer than the data's clock (what the spec alone shows is refused by base.spec);
- a period whose median batch leaves blind-spot search fewer rows than it needs: twice
  blind_spots.min_support in the part of the batch the judge does not keep;
- a reference period with a single class: the first model would have nothing to tell apart.
"""

from __future__ import annotations

import math

import pandas as pd

from factory.core.base.clock import clock_of, period_ids
from factory.core.base.errors import SpecError
from factory.core.base.spec import PERIODS, DatasetSpec

_CLOCK = {"day": "a whole day (00:00)", "month": "the first of a month", "quarter": "the first of a quarter"}


def refuse_target(spec: DatasetSpec, values: pd.Series, labels: pd.Series) -> None:
    """`values` the target as read, `labels` the same as 0/1 (base.dataset.label_values)."""
    known, target = values.dropna(), spec.target
    distinct = sorted(known.unique(), key=str)
    shown = ", ".join(map(repr, distinct[:5])) + (", ..." if len(distinct) > 5 else "")
    if len(distinct) > 2:
        numeric = pd.api.types.is_numeric_dtype(known) and (len(distinct) > 10 or bool((known % 1 != 0).any()))
        what = (
            f"is numeric ({len(distinct)} distinct values from {known.min():g} to {known.max():g})"
            if numeric
            else f"has {len(distinct)} classes ({shown})"
        )
        example = f"{target} > a threshold" if numeric else f"{target} == {distinct[0]!r}"
        _refuse(
            spec,
            [
                f"target '{target}' {what}: the factory learns one yes/no outcome; add a 0/1 column for the "
                f"outcome that matters (for example {example}) and name it as target"
            ],
        )
    if len(known) and not (labels == 1).any():
        _refuse(spec, [f"positive_label {spec.positive_label!r} never occurs in target '{target}' (values: {shown})"])


def refuse_batches(spec: DatasetSpec, labels: pd.Series, batches: pd.Series, times: pd.Series | None) -> None:
    """The batch period (or batch_rows), the batch sizes it gives and the reference period's classes.
    `times` is None for data without a clock (time.row_order)."""
    problems = []
    if times is not None and spec.time.kind == "column":
        clock = clock_of(times)
        if PERIODS.index(spec.period) < PERIODS.index(clock):
            problems.append(
                f"batch_period: {spec.period} is finer than the data's clock: every time in time.column "
                f"'{spec.time.column}' is {_CLOCK[clock]}; use {clock} or coarser"
            )
    known = labels.notna()
    need, share = 2 * spec.blind_spots.min_support, max(1 - spec.judge.holdout_share - spec.judge.gap_share, 1e-9)
    median = float(batches[known].value_counts().median()) if known.any() else 0.0
    if median * share < need:
        setting = f"time.batch_rows: {spec.time.batch_rows}" if times is None else f"batch_period: {spec.period}"
        problems.append(
            f"{setting} gives a median of {median:g} labelled rows per batch, {median * share:g} of them for "
            f"blind-spot search (the judge keeps the rest: judge.holdout_share); it needs at least {need} "
            f"(twice blind_spots.min_support): {_coarser(spec, times, known, need / share)}"
        )
    reference = sorted(batches.unique())[: spec.reference_batches]
    classes = labels[batches.isin(reference) & known].unique()
    if len(classes) < 2:
        only = "no labels" if not len(classes) else f"only {'positive' if classes[0] == 1 else 'negative'} labels"
        problems.append(
            f"reference_batches: the reference period ({reference[0]} to {reference[-1]}) holds {only} of target "
            f"'{spec.target}': the first model has nothing to tell apart; raise reference_batches or start the "
            "data where both classes occur"
        )
    _refuse(spec, problems)


def _coarser(spec: DatasetSpec, times: pd.Series | None, known: pd.Series, rows: float) -> str:
    """What to use instead: the finest coarser period whose median batch has `rows` labelled rows."""
    if times is None:
        return f"use time.batch_rows: {math.ceil(rows)} or more"
    for period in PERIODS[PERIODS.index(spec.period) + 1 :]:
        median = float(period_ids(times[known.to_numpy()], period).value_counts().median())
        if median >= rows:
            return f"use {period} (a median of {median:g} labelled rows per batch)"
    return "no batch period gives that many: lower blind_spots.min_support, or bring more rows"


def _refuse(spec: DatasetSpec, problems: list[str]) -> None:
    if problems:
        where = spec.spec_path or f"dataset '{spec.name}'"
        body = problems[0] if len(problems) == 1 else "".join(f"\n  {p}" for p in problems)
        raise SpecError(f"{where}: {body}")
