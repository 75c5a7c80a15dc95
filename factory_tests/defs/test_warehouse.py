"""The dbt warehouse through dagster-dbt, after one real cycle of the loop on a small
slice of the hotel data (one bootstrapped root shared by every test of this module)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from factory.defs.assets import ingest_assets, reference_assets, regeneration_assets
from factory.defs.io import StorageIOManager
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource, MLflowResource
from factory.defs.warehouse import dbt_resource, warehouse
from factory_tests.defs.conftest import batch_frame, production_batches, temporary_instance

pytestmark = pytest.mark.slow  # each test materialises a cycle or more


@pytest.fixture(scope="module")
def cycled(tmp_path_factory, small_spec_path, small_dataset):
    """A root after the bootstrap and one cycle, the instance, and the cycle's result."""
    tmp = tmp_path_factory.mktemp("warehouse")
    factory = FactoryResource(root=str(tmp / "root"), home=str(tmp / "home"), spec_path=str(small_spec_path))
    resources = {
        "factory": factory,
        "mlflow": MLflowResource(factory=factory),
        "io_manager": StorageIOManager(root=factory.root),
        "dbt": dbt_resource(),
    }
    batch_id = production_batches(small_dataset)[0]
    with temporary_instance() as instance:
        assert dg.materialize(reference_assets, resources=resources, instance=instance).success
        factory.plane.land_frame(batch_id, batch_frame(small_dataset, batch_id))
        instance.add_dynamic_partitions(batches.name, [batch_id])
        cycle = dg.materialize(
            ingest_assets + regeneration_assets,
            resources=resources,
            instance=instance,
            partition_key=batch_id,
            raise_on_error=False,
        )
        assert cycle.success
        built = dg.materialize([warehouse], resources=resources, instance=instance, raise_on_error=False)
        yield factory, batch_id, cycle, built


def _mart(factory: FactoryResource, sql: str) -> list[tuple]:
    with duckdb.connect(str(Path(factory.home) / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_dbt_build_passes_through_dagster(cycled):
    _, _, _, built = cycled
    assert built.success
    materialized = {e.asset_key.to_user_string() for e in built.get_asset_materialization_events()}
    assert {
        "drift_by_batch",
        "drift_history",
        "blind_spot_history",
        "model_performance",
        "synthetic_by_batch",
    } <= materialized
    checks = built.get_asset_check_evaluations()
    assert len(checks) > 30 and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]


def test_warehouse_sits_downstream_of_the_loop():
    deps = {d.asset_key.to_user_string() for spec in warehouse.specs for d in spec.deps}
    assert {"drift_report", "blind_spots", "evaluation", "synthetic_validation", "validated_batch", "promotion"} <= deps


def test_drift_mart_matches_the_drift_report(cycled):
    factory, batch_id, cycle, _ = cycled
    report = cycle.output_for_node("drift_report")
    [(share, drifted, tested)] = _mart(
        factory,
        f"select drift_share, columns_drifted, columns_tested from drift_by_batch where batch_id = '{batch_id}'",
    )
    assert share == pytest.approx(report.drift_share)
    assert (drifted, tested) == (len(report.drifted_columns), len(report.columns))


def test_model_performance_matches_the_evaluation(cycled):
    factory, batch_id, cycle, _ = cycled
    evaluation = cycle.output_for_node("evaluation")
    promotion = cycle.output_for_node("promotion")
    [(champ, chall, gate_auc, back_auc, promoted)] = _mart(
        factory,
        "select champion_version, challenger_version, gate_challenger_auc, backtest_champion_auc, challenger_promoted "
        f"from model_performance where batch_id = '{batch_id}'",
    )
    assert (champ, chall) == (evaluation.champion_version, evaluation.challenger_version)
    assert gate_auc == pytest.approx(evaluation.gate_challenger.auc)
    assert back_auc == pytest.approx(evaluation.backtest_champion.auc)
    assert promoted == promotion["promoted"]


def test_blind_spots_and_synthetic_marts_match_the_cycle(cycled):
    factory, batch_id, cycle, _ = cycled
    search = cycle.output_for_node("blind_spots")
    spots = _mart(factory, f"select blind_spot_id from blind_spot_history where first_batch = '{batch_id}' order by 1")
    assert [s[0] for s in spots] == sorted(s.id for s in search.blind_spots)
    accepted = cycle.get_asset_materialization_events()
    [(rows,)] = _mart(factory, f"select accepted_rows from synthetic_by_batch where batch_id = '{batch_id}'")
    meta = next(e.materialization.metadata for e in accepted if e.asset_key == dg.AssetKey("synthetic_validation"))
    assert rows == meta["accepted"].value
