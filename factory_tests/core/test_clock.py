"""The clock: a timestamp column, calendar columns or none; batch ids that name their period;
and the batch periods a spec alone shows to be impossible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.clock import batch_ids, clock_of, order_key, row_times
from factory.core.base.errors import DataSourceError, SpecError, StorageError
from factory.core.base.spec import TimeSpec, replace
from factory_tests.core.toy import toy_spec

STAMPS = pd.Series(["2016-01-03 23:30", "2016-01-04 00:10", "2016-07-04 13:45", "2016-12-31 08:00"])


def spec_with(period=None, **time):
    return replace(toy_spec(), time=TimeSpec(**time), batch_period=period)


@pytest.mark.parametrize(
    "period, ids",
    [
        ("hour", ["2016-01-03T23", "2016-01-04T00", "2016-07-04T13", "2016-12-31T08"]),
        ("day", ["2016-01-03", "2016-01-04", "2016-07-04", "2016-12-31"]),
        ("week", ["2015-W53", "2016-W01", "2016-W27", "2016-W52"]),  # ISO weeks: 3 January 2016 closes 2015's
        ("month", ["2016-01", "2016-01", "2016-07", "2016-12"]),
        ("quarter", ["2016-Q1", "2016-Q1", "2016-Q3", "2016-Q4"]),
    ],
)
def test_batch_ids_name_their_period_and_sort_in_time(period, ids):
    frame = pd.DataFrame({"when": STAMPS})
    got = batch_ids(frame, spec_with(period, column="when")).tolist()
    assert got == ids and got == sorted(got)


def test_offsets_are_converted_to_the_spec_timezone_and_epochs_are_read():
    frame = pd.DataFrame({"when": ["2016-07-03T23:30:00+00:00", "2016-07-04T01:30:00+02:00"]})
    assert batch_ids(frame, spec_with("day", column="when")).tolist() == ["2016-07-03", "2016-07-03"]  # both UTC
    lisbon = batch_ids(frame, spec_with("hour", column="when", timezone="Europe/Lisbon")).tolist()
    assert lisbon == ["2016-07-04T00", "2016-07-04T00"]  # summer time: UTC+1
    epochs = pd.DataFrame({"when": [1467590400, 1467590400 + 86400]})
    assert batch_ids(epochs, spec_with("day", column="when", format="unix")).tolist() == ["2016-07-04", "2016-07-05"]


def test_values_that_are_no_time_are_refused_by_column():
    frame = pd.DataFrame({"when": ["2016-07-04", "soon", None]})
    with pytest.raises(DataSourceError, match=r"2 value\(s\) of time.column 'when' are not times, e.g. \['soon'\]"):
        row_times(frame, spec_with("day", column="when"))


def test_a_landed_batch_id_must_name_the_period(tmp_path):
    from factory.core.base.plane import DataPlane
    from factory.core.base.storage import Storage

    weekly = DataPlane(Storage(str(tmp_path)), spec_with("week", column="when"))
    assert weekly.land_frame("2016-W27", pd.DataFrame({"x": [1]})).created
    with pytest.raises(StorageError, match=r"batch id '2016-07' is not a week id: expected e.g. '2016-W27'"):
        weekly.land_frame("2016-07", pd.DataFrame({"x": [1]}))


def test_rows_without_a_clock_are_batched_by_position():
    spec = spec_with(row_order=True, batch_rows=3)
    assert spec.period == "rows"
    assert batch_ids(pd.DataFrame({"x": range(7)}), spec).tolist() == ["rows-000000"] * 3 + ["rows-000001"] * 3 + [
        "rows-000002"
    ]


def test_the_clock_of_the_data_is_its_finest_period():
    assert clock_of(pd.to_datetime(STAMPS)) == "hour"
    assert clock_of(pd.to_datetime(pd.Series(["2016-07-04", "2016-07-09"]))) == "day"
    assert clock_of(pd.to_datetime(pd.Series(["2016-07-01", "2016-08-01"]))) == "month"
    assert clock_of(pd.to_datetime(pd.Series(["2016-07-01", "2016-10-01"]))) == "quarter"


def test_rows_are_ordered_by_their_time_inside_a_batch():
    shuffled = pd.DataFrame({"when": STAMPS.iloc[[2, 0, 3, 1]].to_numpy()})
    assert list(np.argsort(order_key(shuffled, spec_with(column="when")))) == [1, 3, 0, 2]
    calendar = spec_with(month="month", start_year=2015)  # no day: rows land in time order
    assert list(order_key(pd.DataFrame({"month": [7, 7, 7]}), calendar)) == [0, 1, 2]


@pytest.mark.parametrize(
    "time, period, message",
    [
        (
            {"month": "month", "start_year": 2015},
            "day",
            "batch_period: day is finer than the data's clock: its calendar columns give months; use month or coarser",
        ),
        ({"month": "month", "day": "day", "start_year": 2015}, "hour", "calendar columns give days; use day"),
        ({"row_order": True, "batch_rows": 50}, "week", "batch_period: week needs a clock; time.row_order"),
        ({"column": "when", "month": "month", "start_year": 2015}, None, "give exactly one of 'column'"),
        ({"row_order": True}, None, "'row_order: true' needs 'batch_rows'"),
        ({"column": "when", "timezone": "Mars/Olympus"}, None, "unknown timezone 'Mars/Olympus'"),
        ({"month": "month", "format": "%Y"}, None, "'format' and 'timezone' describe a timestamp 'column'"),
    ],
)
def test_a_clock_the_spec_alone_shows_impossible_is_refused(time, period, message):
    with pytest.raises(SpecError, match="time|batch_period") as info:
        replace(toy_spec(), time=time, batch_period=period)
    assert message in str(info.value)
