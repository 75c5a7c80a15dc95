"""Reading a dataset through its spec: batch ids, normalised types, fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory.core.base.clock import batch_ids, month_number
from factory.core.base.dataset import (
    BATCH,
    categorical_strings,
    content_hash,
    label_values,
    load_dataset,
    source_path,
)
from factory.core.base.errors import DataSourceError
from factory.core.base.spec import SourceSpec, load_spec, replace

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture(scope="module")
def bank_spec():
    return load_spec(SPECS / "bank.yaml")


@pytest.fixture(scope="module")
def bank_data(bank_spec):
    return load_dataset(bank_spec)


def test_bank_year_is_rebuilt_from_row_order(bank_data):
    batches = sorted(bank_data[BATCH].unique())
    assert batches[0] == "2008-05"
    assert batches[-1] == "2010-11"
    # row order is time order: the batch column never goes backwards
    assert bank_data[BATCH].is_monotonic_increasing


def test_bank_label_becomes_zero_one_floats(bank_data, bank_spec):
    y = bank_data[bank_spec.target]
    assert y.dtype == float
    assert set(y.unique()) == {0.0, 1.0}
    assert 0.05 < y.mean() < 0.2  # "yes" is the minority answer


def test_hotel_has_26_monthly_batches_from_2015_07(hotel_data):
    batches = sorted(hotel_data[BATCH].unique())
    assert len(batches) == 26
    assert batches[0] == "2015-07"
    assert batches[-1] == "2017-08"
    assert hotel_data[BATCH].is_monotonic_increasing


def test_hotel_agent_ids_are_whole_number_strings(hotel_data):
    agents = hotel_data["agent"].dropna()
    assert len(agents) > 0
    assert all(isinstance(v, str) for v in agents)
    assert "9" in set(agents)
    assert not agents.str.endswith(".0").any()
    assert hotel_data["agent"].isna().any()  # missing stays missing, not the string "nan"
    assert not hotel_data["agent"].isin(["nan", "None", "<NA>"]).any()


def test_hotel_numeric_features_are_floats_and_target_is_zero_one(hotel_data, hotel_spec):
    for col in hotel_spec.numeric:
        assert hotel_data[col].dtype == float, col
    y = hotel_data[hotel_spec.target]
    assert y.dtype == float
    assert set(y.unique()) == {0.0, 1.0}


def test_label_values_maps_positive_label_and_keeps_missing(bank_spec):
    values = pd.Series(["yes", "no", None, "yes"], dtype=object)
    out = label_values(values, bank_spec)
    assert out.iloc[[0, 1, 3]].tolist() == [1.0, 0.0, 1.0]
    assert np.isnan(out.iloc[2])


def test_normalised_labels_stay_normalised(bank_spec):
    once = label_values(pd.Series(["yes", "no"]), bank_spec)
    assert label_values(once, bank_spec).tolist() == [1.0, 0.0]


def test_categorical_strings_of_float_ids():
    out = categorical_strings(pd.Series([9.0, 240.0, np.nan]))
    assert out.tolist() == ["9", "240", None]
    assert categorical_strings(pd.Series([1.5, 2.0])).tolist() == ["1.5", "2.0"]


def test_month_number_accepts_names_abbreviations_and_numbers():
    assert month_number(pd.Series(["July", "aug", " December "])).tolist() == [7, 8, 12]
    assert month_number(pd.Series([1, 11])).tolist() == [1, 11]
    with pytest.raises(DataSourceError, match="Smarch"):
        month_number(pd.Series(["Smarch"]))


def test_batch_ids_roll_the_year_when_the_month_drops(bank_spec):
    frame = pd.DataFrame({"month": ["nov", "dec", "jan", "jan", "mar", "feb"]})
    assert batch_ids(frame, bank_spec).tolist() == ["2008-11", "2008-12", "2009-01", "2009-01", "2009-03", "2010-02"]


def test_content_hash_is_stable_and_sees_a_changed_value(hotel_data):
    sample = hotel_data.iloc[:500]
    h = content_hash(sample)
    assert h == content_hash(sample.copy())
    assert h == content_hash(sample.reset_index(drop=True).set_axis(range(1000, 1500)))  # index does not count
    changed = sample.copy()
    changed.loc[changed.index[17], "adr"] += 0.01
    assert content_hash(changed) != h
    renamed = sample.rename(columns={"adr": "rate"})
    assert content_hash(renamed) != h
    assert len(h) == 16


def test_missing_source_without_url_is_a_helpful_error(hotel_spec, tmp_path):
    missing = tmp_path / "gone" / "hotel.csv.gz"
    spec = replace(hotel_spec, source=SourceSpec(path=str(missing), url=None, options=hotel_spec.source.options))
    with pytest.raises(DataSourceError) as info:
        load_dataset(spec)
    message = str(info.value)
    assert "hotel" in message
    assert str(missing) in message
    assert "not found" in message
    assert "no url" in message


def test_relative_source_path_resolves_against_the_spec_file(hotel_spec):
    path = source_path(hotel_spec)
    assert path.is_absolute() and path.exists()
    assert path.name == "hotel_bookings.csv.gz"


def test_unreadable_source_is_a_data_source_error(hotel_spec, tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not a parquet file")
    spec = replace(hotel_spec, source=SourceSpec(path=str(bad), format="parquet"))
    with pytest.raises(DataSourceError, match="cannot read"):
        load_dataset(spec)
