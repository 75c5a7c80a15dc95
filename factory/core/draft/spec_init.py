"""`factory spec init`: a draft spec from the data itself, every suggestion with why.

The draft is checked before it is written: it is loaded exactly as `factory replay` would
load it (base.dataset.load_dataset), so what the factory cannot take (base.admit) is refused
here, with the same words, and an unedited draft always loads.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.core.base.admit import refuse_target
from factory.core.base.clock import batch_ids, clock_of, month_number, period_ids, row_times
from factory.core.base.dataset import label_values, load_dataset
from factory.core.base.errors import DataSourceError, SpecError
from factory.core.base.spec import PERIODS, DatasetSpec, spec_from
from factory.core.draft.columns import Column, column_roles, draft_rules

PER_YEAR = {"hour": 24 * 365, "day": 365, "week": 52, "month": 12, "quarter": 4}  # the reference: a year ...
ROLES = ("numeric", "categorical", "ids", "leakage", "pii")


@dataclass(frozen=True)
class Draft:
    text: str  # the spec as YAML, each suggestion with its comment
    spec: DatasetSpec  # the same, loaded


def draft_spec(
    data: str | os.PathLike,
    target: str,
    *,
    time: tuple[str, ...] = (),
    period: str | None = None,
    batch_rows: int | None = None,
    start_year: int | None = None,
    out: str | os.PathLike | None = None,
) -> Draft:
    """Draft a spec for the file `data` (CSV, gzipped or not, or parquet) predicting `target`.
    `time`: one timestamp column, a month column (with `start_year`), or year, month[, day];
    or `batch_rows` for data with no clock. `out`: where the spec will live (its source path
    is written relative to it); None: standard output (an absolute path)."""
    path = Path(data).resolve()
    raw, fmt, options = _read(path)
    if target not in raw.columns:
        raise SpecError(f"target '{target}' is not a column of {path.name} (columns: {list(raw.columns)})")
    positive, why_positive = _positive(raw[target])
    source = {"path": os.path.relpath(path, Path(out).resolve().parent) if out else str(path), "format": fmt}
    where = str(out) if out else f"the draft spec for {path.name}"
    keys: dict[str, Any] = dict(
        name=path.name.split(".")[0],
        source={**source, "options": options},
        target=target,
        positive_label=positive,
        time=_time_keys(raw, time, batch_rows, start_year),
        batch_period=None if batch_rows else period or "month",
    )
    clock = [c for c in keys["time"].values() if isinstance(c, str)]
    others = [c for c in raw.columns if c != target and c not in clock]
    provisional = spec_from({**keys, "categorical": others[:1]}, where)
    labels = label_values(raw[target], provisional)
    refuse_target(provisional, raw[target], labels)
    times = None if batch_rows else row_times(raw, provisional)
    if times is not None:
        order = np.argsort(times.to_numpy(), kind="stable")
        raw, times, labels = (x.iloc[order].reset_index(drop=True) for x in (raw, times, labels))
    batches = batch_ids(raw, provisional, times)
    ids = sorted(batches.unique())
    keys["reference_batches"] = reference = max(2, min(PER_YEAR.get(provisional.period, len(ids)), len(ids) // 2))
    if len(ids) <= reference:
        raise SpecError(
            f"{where}: {len(ids)} batches: the loop needs a reference period of at least 2 and batches after it; "
            + ("lower --batch-rows" if batch_rows else "use a finer --period")
        )
    roles = column_roles(raw, {target, *clock}, labels, batches.isin(ids[:reference]))
    by_role = {r: [c for c in roles if c.role == r] for r in ROLES}
    rules = draft_rules(raw, by_role["numeric"])
    spec_keys = {r: [c.name for c in by_role[r]] for r in ROLES}
    spec_keys["integer"] = [c.name for c in by_role["numeric"] if c.integer]
    spec = spec_from({**keys, **spec_keys, "rules": [r for r, _ in rules]}, where)
    load_dataset(spec)  # what replay does first: refuses here what it would refuse there
    why = {
        "positive_label": why_positive,
        "batch_period": _sizes(batches, times, provisional.period),
        "reference_batches": f"the first {reference} batches are the training world; {len(ids) - reference} remain",
        "label_delay": "a batch's labels arrive one batch later",
    }
    text = _render(path, raw, keys, why, by_role, rules, [c for c in roles if c.role == "unused"])
    return Draft(text, spec)


def _read(path: Path) -> tuple[pd.DataFrame, str, dict[str, str]]:
    """The file and how to read it again: parquet, or CSV with the separator its header uses."""
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path), "parquet", {}
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt") as f:
            header = f.readline()
        sep = max([",", ";", "\t", "|"], key=header.count)
        options = {} if sep == "," else {"sep": sep}
        return pd.read_csv(path, **options), "csv", options
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataSourceError(f"cannot read {path}: {exc}") from None


def _positive(values: pd.Series) -> tuple[Any, str]:
    """The label the model flags: 1 or true when the target is coded so, else the rarer class."""
    counts = values.value_counts()
    known = set(counts.index.tolist())
    if known <= {0, 1} and len(known) == 2:
        label, why = (True if values.dtype == bool else 1), "the usual coding: 1 (true) marks the outcome"
    else:
        label, why = counts.index[-1], "the rarer class: usually the outcome to flag"
    label = label.item() if isinstance(label, np.generic) else label
    return label, f"{why} ({counts.get(label, 0) / max(counts.sum(), 1):.1%} of labelled rows)"


def _time_keys(raw: pd.DataFrame, time: tuple[str, ...], batch_rows: int | None, start_year: int | None) -> dict:
    """The spec's time block from the command line's --time / --batch-rows / --start-year."""
    if batch_rows and time:
        raise SpecError("give --time (the data has a clock) or --batch-rows (it has none), not both")
    if batch_rows:
        return {"row_order": True, "batch_rows": batch_rows}
    if missing := [c for c in time if c not in raw.columns]:
        raise SpecError(f"--time column(s) {missing} are not columns of the data (columns: {list(raw.columns)})")
    if len(time) == 1 and _months(raw[time[0]]):
        if start_year is None:
            raise SpecError(
                f"column '{time[0]}' holds months without a year: give --start-year (the year of the first row; "
                "the year then increments whenever the month drops) or --time YEAR,MONTH"
            )
        return {"month": time[0], "start_year": start_year}
    if len(time) == 1:
        return {"column": time[0]}
    if len(time) in (2, 3):
        return dict(zip(("year", "month", "day"), time))
    looks = [str(c) for c in raw.columns if raw[c].dtype == object and _parses(raw[c])]
    raise SpecError(
        "give --time COLUMN (a timestamp or date), --time YEAR,MONTH[,DAY] (calendar columns) or --batch-rows N "
        f"(no clock: batches of N rows in file order); columns that look like times: {looks or 'none'}"
    )


def _months(values: pd.Series) -> bool:
    try:
        months = month_number(values.dropna())
    except (DataSourceError, ValueError, TypeError):
        return False
    return bool(months.between(1, 12).all()) and (values.dtype == object or "month" in str(values.name).lower())


def _parses(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).head(200)
    return len(sample) > 0 and pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean() >= 0.9


def _sizes(batches: pd.Series, times: pd.Series | None, period: str) -> str:
    """The batch sizes the chosen period gives, and the median of every other period the clock allows."""
    counts = batches.value_counts()
    text = f"{len(counts)} batches of {counts.min()} to {counts.max()} rows (median {counts.median():g})"
    if times is None:
        return text
    finest = PERIODS.index(clock_of(times))
    others = [p for p in PERIODS[finest:] if p != period]
    return text + "; " + ", ".join(f"{p}: median {period_ids(times, p).value_counts().median():g}" for p in others)


def _render(
    path: Path,
    raw: pd.DataFrame,
    keys: dict[str, Any],
    why: dict[str, str],
    by_role: dict[str, list[Column]],
    rules: list[tuple[str, str]],
    unused: list[Column],
) -> str:
    """The spec as YAML (values as JSON scalars, which YAML reads alike) with a comment on every suggestion."""
    lines = [
        f"# Drafted by `factory spec init` from {path.name} ({len(raw)} rows, {raw.shape[1]} columns).",
        "# Each suggestion says why: keep it, move it or delete it (README: Bring your own data).",
    ]

    def scalar(key: str, value: Any, indent: str = "") -> None:
        comment = f"  # {why[key]}" if key in why else ""
        lines.append(f"{indent}{key}: {json.dumps(value)}{comment}")

    for key in ("name", "source", "target", "positive_label", "time", "batch_period", "reference_batches"):
        value = keys[key]
        if isinstance(value, dict):
            lines.append(f"{key}:")
            for k, v in value.items():
                if isinstance(v, dict):
                    lines += [f"  {k}:", *(f"    {kk}: {json.dumps(vv)}" for kk, vv in v.items())] if v else []
                else:
                    scalar(k, v, "  ")
        elif value is not None:
            scalar(key, value)
    scalar("label_delay", 1)
    for role in ROLES:
        listed = [(c.name, c.why) for c in by_role[role]]
        lines += _listing(role, listed)
        if role == "numeric":
            lines += _listing("integer", [(c.name, "") for c in by_role[role] if c.integer])
    lines += _listing("rules", rules)
    if unused:
        lines += ["# not used (add them under numeric or categorical if they matter):"]
        lines += [f"#   {c.name}: {c.why}" for c in unused]
    return "\n".join(lines) + "\n"


def _listing(key: str, items: list[tuple[str, str]]) -> list[str]:
    if not items:
        return [f"{key}: []"]
    return [f"{key}:", *(f"  - {json.dumps(v)}" + (f"  # {w}" if w else "") for v, w in items)]
