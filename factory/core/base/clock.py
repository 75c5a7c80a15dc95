"""The clock: when each row happened, as the spec's `time:` block says, and the batch it falls in.

Batch ids are sortable strings that name their period and come from the data, never from
the wall clock: `2016-07` (month), `2016-Q3` (quarter), `2016-W27` (ISO week),
`2016-07-04` (day), `2016-07-04T13` (hour), and `rows-000123` (the 124th batch of
`time.batch_rows` rows, for data with no clock).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from factory.core.base.errors import DataSourceError
from factory.core.base.spec import PERIODS, DatasetSpec

ROWS_ID = "rows-{:06d}"
_FORMATS = {"month": "%Y-%m", "day": "%Y-%m-%d", "hour": "%Y-%m-%dT%H"}
_MONTH_NAMES = ["january", "february", "march", "april", "may", "june", "july", "august", "september"]
_MONTH_NAMES += ["october", "november", "december"]
_MONTHS = {name: i + 1 for i, full in enumerate(_MONTH_NAMES) for name in (full, full[:3])}


def month_number(values: pd.Series) -> pd.Series:
    """Month names, abbreviations or numbers to 1..12."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(int)
    mapped = values.astype(str).str.strip().str.lower().map(_MONTHS)
    if mapped.isna().any():
        bad = sorted(values[mapped.isna()].astype(str).unique())[:5]
        raise DataSourceError(f"unrecognised month value(s) {bad}")
    return mapped.astype(int)


def row_times(df: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """When each row happened, as naive datetimes in the spec's local time. Without a year
    column the year is rebuilt from row order (it increments whenever the month drops)."""
    time = spec.time
    if time.kind == "rows":
        raise ValueError("time.row_order data has no clock")
    if time.kind == "column":
        return _parsed(df[time.column], spec)
    month = month_number(df[time.month])
    year = df[time.year].astype(int) if time.year else time.start_year + (month.diff().fillna(0) < 0).cumsum()
    day = df[time.day].astype(int) if time.day else 1
    try:
        return pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}, index=df.index))
    except ValueError as exc:
        raise DataSourceError(f"dataset '{spec.name}': calendar columns {list(time.columns)}: {exc}") from None


def _parsed(values: pd.Series, spec: DatasetSpec) -> pd.Series:
    """A timestamp column as naive local datetimes; values that are no time are refused by name."""
    time = spec.time
    if time.format in ("unix", "unix_ms"):
        unit = "s" if time.format == "unix" else "ms"
        times = pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit=unit, utc=True)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # pandas' word for offsets that differ between rows
            try:
                times = pd.to_datetime(values, format=time.format, errors="coerce")
            except FutureWarning:
                times = pd.to_datetime(values, format=time.format, errors="coerce", utc=True)
            except (ValueError, TypeError) as exc:
                raise DataSourceError(f"dataset '{spec.name}': time.column '{time.column}': {exc}") from None
    if times.dt.tz is not None:
        times = times.dt.tz_convert(time.timezone or "UTC").dt.tz_localize(None)
    if (bad := times.isna() & values.notna()).any() or values.isna().any():
        examples = sorted(values[bad].astype(str).unique())[:3] if bad.any() else ["(missing)"]
        raise DataSourceError(
            f"dataset '{spec.name}': {int(bad.sum() + values.isna().sum())} value(s) of time.column '{time.column}' "
            f"are not times, e.g. {examples}; give time.format (a strftime format, or unix / unix_ms)"
        )
    return times


def period_ids(times: pd.Series, period: str) -> pd.Series:
    """The id of the period each time falls in (see the module docstring); each distinct time
    is formatted once."""
    codes, distinct = pd.factorize(times)
    return pd.Series(_formatted(pd.Series(distinct), period).to_numpy()[codes], index=times.index)


def _formatted(times: pd.Series, period: str) -> pd.Series:
    if period in _FORMATS:
        return times.dt.strftime(_FORMATS[period])
    if period == "quarter":
        return times.dt.year.astype(str) + "-Q" + times.dt.quarter.astype(str)
    if period == "week":
        iso = times.dt.isocalendar()
        return iso["year"].astype(str) + "-W" + iso["week"].map("{:02d}".format)
    raise ValueError(f"unknown batch period {period!r}; one of {PERIODS}")


def batch_ids(df: pd.DataFrame, spec: DatasetSpec, times: pd.Series | None = None) -> pd.Series:
    """The batch id of each row: its period, or its position's block of batch_rows rows."""
    if spec.period == "rows":
        return pd.Series([ROWS_ID.format(i) for i in np.arange(len(df)) // spec.time.batch_rows], index=df.index)
    return period_ids(row_times(df, spec) if times is None else times, spec.period)


def clock_of(times: pd.Series) -> str:
    """The finest period the data's clock can tell apart: hour when any time falls inside a
    day, day when any falls after a month's first, month when any month starts no quarter."""
    if (times != times.dt.normalize()).any():
        return "hour"
    if (times.dt.day != 1).any():
        return "day"
    return "month" if (~times.dt.month.isin([1, 4, 7, 10])).any() else "quarter"


def order_key(df: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """How rows are ordered inside a batch: their time where the clock is finer than a month
    (a timestamp column, or a day column), else their position (rows land in time order)."""
    time = spec.time
    finer = time.kind == "column" or (time.kind == "calendar" and time.day)
    if finer and set(time.columns) <= set(df.columns):
        return row_times(df, spec).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return np.arange(len(df))
