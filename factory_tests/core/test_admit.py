"""What the factory cannot take is refused in plain words, alike when a spec is drafted
(`factory spec init`) and when a dataset is loaded; each refusal names the column or setting
and what to do instead. The data: the real hotel sample with one `Date` column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from factory.core.base.dataset import load_dataset
from factory.core.base.errors import SpecError
from factory.core.base.spec import load_spec
from factory.core.draft.spec_init import draft_spec
from factory_tests.hotel_ways import write_way


def _reference_without_positives(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(is_canceled=frame["is_canceled"].where(frame["Date"] >= "2016-07-01", 0))


CASES = {  # name: (change to the data, spec keys, spec init arguments, the refusal's words)
    "multi-class": (
        lambda f: f.assign(is_canceled=f["reservation_status"]),
        {},
        {},
        "target 'is_canceled' has 3 classes ('Canceled', 'Check-Out', 'No-Show'): the factory learns one yes/no "
        "outcome; add a 0/1 column for the outcome that matters (for example is_canceled == 'Canceled')",
    ),
    "numeric": (
        lambda f: f.assign(is_canceled=f["adr"]),
        {},
        {},
        "target 'is_canceled' is numeric (",
    ),
    "too few rows": (
        None,
        {"batch_period": "day"},
        {"period": "day"},
        "batch_period: day gives a median of 17 labelled rows per batch, 8.5 of them for blind-spot search (the "
        "judge keeps the rest: judge.holdout_share); it needs at least 60 (twice blind_spots.min_support): use week "
        "(a median of 133 labelled rows per batch)",
    ),
    "finer than the clock": (
        None,
        {"batch_period": "hour"},
        {"period": "hour"},
        "batch_period: hour is finer than the data's clock: every time in time.column 'Date' is a whole day (00:00); "
        "use day or coarser",
    ),
    "single-class reference": (
        _reference_without_positives,
        {},
        {},
        "reference_batches: the reference period (2015-07 to 2016-06) holds only negative labels of target "
        "'is_canceled': the first model has nothing to tell apart",
    ),
}


@pytest.fixture(scope="module")
def date_way(tmp_path_factory) -> Path:
    return write_way(tmp_path_factory.mktemp("date-way"), "date")


@pytest.mark.parametrize("case", list(CASES))
def test_each_refusal_is_said_at_spec_init_and_at_load(case, date_way, tmp_path):
    change, keys, init, words = CASES[case]
    spec = yaml.safe_load(date_way.read_text())
    data = Path(spec["source"]["path"])
    if change is not None:
        data = tmp_path / "changed.csv"
        change(pd.read_csv(spec["source"]["path"])).to_csv(data, index=False)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**spec, "source": {**spec["source"], "path": str(data)}, **keys}))
    with pytest.raises(SpecError) as loaded:
        load_dataset(load_spec(path))
    assert words in str(loaded.value) and str(path) in str(loaded.value)
    with pytest.raises(SpecError) as drafted:
        draft_spec(data, "is_canceled", time=("Date",), **init)
    assert words in str(drafted.value)


def test_batch_rows_too_few_says_how_many(date_way, tmp_path):
    path = write_way(tmp_path, "rows", time={"row_order": True, "batch_rows": 50})
    with pytest.raises(
        SpecError,
        match=r"time.batch_rows: 50 gives a median of 50 labelled rows per batch, 25 of "
        r"them .*: use time.batch_rows: 120 or more",
    ):
        load_dataset(load_spec(path))


def test_a_positive_label_the_target_never_takes_is_refused(date_way, tmp_path):
    spec = yaml.safe_load(date_way.read_text())
    data = tmp_path / "yes-no.csv"
    frame = pd.read_csv(spec["source"]["path"])
    frame.assign(is_canceled=frame["is_canceled"].map({1: "yes", 0: "no"})).to_csv(data, index=False)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**spec, "source": {**spec["source"], "path": str(data)}, "positive_label": "Yes"}))
    with pytest.raises(
        SpecError, match=r"positive_label 'Yes' never occurs in target 'is_canceled' \(values: 'no', 'yes'\)"
    ):
        load_dataset(load_spec(path))
