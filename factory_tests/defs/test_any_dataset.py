"""Any dataset a team brings: the real hotel data re-expressed three ways (one Date column with
monthly and with weekly batches, and no clock at all), and the specs `factory spec init`
drafts for both shipped datasets, each through one cycle of the loop."""

from __future__ import annotations

import re

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from factory.core.base.dataset import BATCH, load_dataset
from factory.core.base.spec import load_spec
from factory.core.draft.spec_init import draft_spec
from factory.core.learn.judge import split_by_time
from factory.defs.assets import ingest_assets, reference_assets, regeneration_assets
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource
from factory.defs.warehouse import dbt_resource
from factory.defs.warehouse import warehouse as dbt_warehouse
from factory_tests.core.test_draft import SHIPPED
from factory_tests.defs.conftest import batch_frame, resources_of
from factory_tests.hotel_ways import CALENDAR, LIGHT, write_way


def _one_cycle(folder, spec_path, instance, warehouse: bool = False) -> tuple[str, dict]:
    """Bootstrap, land the first batch after the reference period, run the loop on it (and
    the dbt warehouse over it); returns the batch id and each asset's materialisation metadata."""
    factory = FactoryResource(root=str(folder / "root"), home=str(folder / "home"), spec_path=str(spec_path))
    resources = {**resources_of(factory), "dbt": dbt_resource()}
    assert dg.materialize(reference_assets, resources=resources, instance=instance).success
    dataset = load_dataset(factory.spec)
    batch_id = sorted(dataset[BATCH].unique())[factory.spec.reference_batches]
    factory.plane.land_frame(batch_id, batch_frame(dataset, batch_id))
    instance.add_dynamic_partitions(batches.name, [batch_id])
    result = dg.materialize(
        ingest_assets + regeneration_assets, resources=resources, instance=instance, partition_key=batch_id
    )
    assert result.success
    assert factory.plane.evaluation(batch_id)["gate_champion"]["rows"] > 0
    if warehouse:  # the marts order batches by their ids, which sort in time whatever the period
        assert dg.materialize([dbt_warehouse], resources=resources, instance=instance).success
        with duckdb.connect(str(folder / "home" / "warehouse.duckdb"), read_only=True) as con:
            assert con.sql("select batch_id from model_performance").fetchall() == [(batch_id,)]
    return batch_id, {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }


def test_a_date_column_gives_the_batches_and_numbers_of_the_calendar_columns(tmp_path):
    """Same batch ids, same rows in the same order, same splits: every number downstream follows."""
    calendar = load_dataset(load_spec(write_way(tmp_path, "calendar")))
    spec = load_spec(write_way(tmp_path, "date"))
    dated = load_dataset(spec)
    assert dated[BATCH].tolist() == calendar[BATCH].tolist()
    pd.testing.assert_frame_equal(dated.drop(columns="Date"), calendar.drop(columns=CALENDAR))
    batch = dated[BATCH] == "2016-07"
    calendar_spec = load_spec(tmp_path / "hotel-calendar.yaml")
    for ours, theirs in zip(split_by_time(dated[batch], spec, 0.5), split_by_time(calendar[batch], calendar_spec, 0.5)):
        assert list(ours.index) == list(theirs.index)


@pytest.mark.slow
@pytest.mark.parametrize(
    "way, keys, pattern",
    [
        ("date", {}, r"2016-07"),
        ("date", {"batch_period": "week", "reference_batches": 52}, r"2016-W\d\d"),
        ("rows", {}, r"rows-000008"),
    ],
)
def test_the_hotel_data_three_ways_runs_a_cycle(way, keys, pattern, tmp_path, instance):
    spec_path = write_way(tmp_path, way, **LIGHT, **keys)
    batch_id, metadata = _one_cycle(tmp_path, spec_path, instance, warehouse="batch_period" in keys)
    assert re.fullmatch(pattern, batch_id)
    assert metadata["blind_spots"]["pooled_batches"].value == "none"  # the newest batch was big enough
    assert metadata["blind_spots"]["searched_rows"].value > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SHIPPED))
def test_the_spec_init_draft_of_a_shipped_dataset_replays_a_cycle(name, tmp_path, instance):
    data, how = SHIPPED[name]
    out = tmp_path / f"{name}-draft.yaml"
    spec = yaml.safe_load(draft_spec(data, out=out, **how).text)
    if name == "hotel":  # the same draft over the 12% sample (the same columns) keeps the cycle short
        spec["source"]["path"] = str(tmp_path / "hotel-calendar.csv")
        write_way(tmp_path, "calendar")
    out.write_text(yaml.safe_dump({**spec, **LIGHT}))
    batch_id, metadata = _one_cycle(tmp_path, out, instance)
    assert batch_id == {"hotel": "2016-07", "bank": "2009-08"}[name]
    assert np.isfinite(metadata["evaluation"]["scores"].value.records[0].data["auc"])
