"""The loop's assets through dagster.materialize on a small slice of the real hotel data."""

from __future__ import annotations

import io
import json
import math

import dagster as dg
import pandas as pd
import pytest

from factory.core.base.dataset import exact_copies
from factory.core.base.plane import DataPlane
from factory.core.base.spec import load_spec
from factory.core.discover.scan import encode
from factory.core.learn.judge import evaluation_sets
from factory.defs.assets import ingest_assets, reference_assets, regeneration_assets
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource
from factory_tests.defs.conftest import batch_frame, production_batches, resources_of, write_small_spec

pytestmark = pytest.mark.slow  # each test materialises a cycle or more

LOOP = ingest_assets + regeneration_assets


FRAMES = ["landed_batch", "validated_batch", "drift_report", "blind_spots", "synthetic_batch"]
FRAMES += ["synthetic_validation", "evaluation", "baselines"]
_RICH = (
    dg.MarkdownMetadataValue,
    dg.PathMetadataValue,
    dg.UrlMetadataValue,
    dg.TableMetadataValue,
    dg.TableSchemaMetadataValue,
)


def _plain(value) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), dict, list))


def _run(instance, resources, batch_id: str, selection=LOOP):
    instance.add_dynamic_partitions(batches.name, [batch_id])
    return dg.materialize(
        selection, resources=resources, instance=instance, partition_key=batch_id, raise_on_error=False
    )


def _materialized(result, name: str) -> bool:
    return any(e.asset_key == dg.AssetKey(name) for e in result.get_asset_materialization_events())


def test_bootstrap_registers_first_champion(bootstrapped):
    registry = bootstrapped.registry
    assert registry.version_of("champion") == "1"
    ledger = registry.ledger()
    assert list(ledger["action"]) == ["promote"]
    assert "without a baseline" in ledger["reason"].iloc[0]
    assert bootstrapped.plane.has_reference()


def test_one_cycle_materialises_every_asset(bootstrapped, resources, instance, small_dataset):
    plane = bootstrapped.plane
    batch_id = production_batches(small_dataset)[0]
    plane.land_frame(batch_id, batch_frame(small_dataset, batch_id))
    result = _run(instance, resources, batch_id)
    assert result.success
    for asset in LOOP:
        assert _materialized(result, asset.key.path[-1]), asset.key
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["ingest_gate"] is True and checks["synthetic_gate"] is True
    assert "promotion_gate" in checks
    # metadata stays plain Python so the UI can plot it; tables are Dagster's own, typed and rounded
    metadata = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    for name, meta in metadata.items():
        for label, value in meta.items():
            assert _plain(value.value) or isinstance(value, _RICH), (name, label, value)
            assert not (isinstance(value, dg.MarkdownMetadataValue) and "|" in value.value), (name, label)
    for name in FRAMES:  # an empty frame (no synthetic rows asked for) may have no columns either
        rows, schema = metadata[name]["dagster/row_count"].value, metadata[name]["dagster/column_schema"].schema
        assert rows >= 0 and (schema.columns or rows == 0), name
    assert {c.name for c in metadata["blind_spots"]["dagster/column_schema"].schema.columns} >= {"predicate", "lift"}
    assert metadata["validated_batch"]["dagster/row_count"].value == len(batch_frame(small_dataset, batch_id))
    scores = metadata["evaluation"]["scores"].value
    types = {c.name: c.type for c in scores.schema.columns}
    assert types["set"] == "string" and types["rows"] == "int" and types["auc"] == "float"
    for record in scores.records:  # ROC AUC to one digit finer than its interval's width
        width = record.data["auc_high"] - record.data["auc_low"]
        assert record.data["auc"] == round(record.data["auc"], 1 - math.floor(math.log10(width)))
    # the plan is an asset of its own, kept under plans/<batch>/<run>.json; synthesis asks for exactly it
    plan = result.output_for_node("generation_plan")
    kept = [k.split("/")[-1] for k in plane.storage.list(f"plans/{batch_id}")]
    assert len(kept) == 1 and plane.storage.read_json(f"plans/{batch_id}/{kept[0]}")["rows"] == plan.rows
    assert result.output_for_node("synthetic_batch").requested == plan.rows
    # real data only judges: the evaluation rows are the holdout, disjoint from training
    evaluation = result.output_for_node("evaluation")
    assert evaluation.gate_champion.rows > 0 and evaluation.backtest_champion.rows == len(
        batch_frame(small_dataset, batch_id)
    )
    # the drift report exists as HTML and as a tidy table
    assert plane.storage.exists(f"reports/drift/{batch_id}.html")
    tidy = plane.storage.read_parquet(f"reports/drift/{batch_id}.parquet")
    assert set(tidy["column"]) <= set(bootstrapped.spec.features) and len(tidy) > 10
    # the challenger run is in MLflow with params, metrics and a model version
    chall = result.output_for_node("challenger")
    # the cycle's run also holds the evaluation and every baseline (per blind spot: test_training)
    registry = bootstrapped.registry
    run = registry._client().get_run(registry._client().get_model_version(registry.model_name, chall.version).run_id)
    logged = run.data.metrics
    assert logged["gate.challenger.auc"] == evaluation.gate_challenger.auc
    assert logged["backtest.champion.auc"] == evaluation.backtest_champion.auc
    assert logged["baseline.recency.backtest.auc"] == result.output_for_node("baselines")["recency"]["backtest"]["auc"]
    assert bootstrapped.registry.load(chall.version).predict_proba(batch_frame(small_dataset, batch_id)).shape == (
        len(batch_frame(small_dataset, batch_id)),
    )


def test_synthetic_rows_carry_lineage_and_stay_out_of_evaluation(tmp_path, instance, small_dataset):
    """With a gate that only warns, synthetic rows are accepted; each carries its lineage,
    and none of them is in any set the cycle judges with: every judged row is real."""
    spec_path = write_small_spec(tmp_path, gate={"blocking": False}, blind_spots={"max_false_share": 1.0})
    factory = FactoryResource(root=str(tmp_path / "root"), home=str(tmp_path / "home"), spec_path=str(spec_path))
    resources = resources_of(factory)
    assert dg.materialize(reference_assets, resources=resources, instance=instance).success
    plane = factory.plane
    batch_id = production_batches(small_dataset)[0]
    plane.land_frame(batch_id, batch_frame(small_dataset, batch_id))
    assert _run(instance, resources, batch_id).success
    accepted = [k for k in plane.storage.list(f"synthetic/{batch_id}") if k.endswith(".accepted.parquet")]
    synthetic = pd.concat([plane.storage.read_parquet(k) for k in accepted])
    assert len(synthetic) > 0
    for col in ("_synthetic", "_generator", "_generator_version", "_seed", "_blind_spot_id", "_cycle", "_fitted_on"):
        assert synthetic[col].notna().all(), col
    assert (synthetic["_cycle"] == batch_id).all()
    sets = evaluation_sets(plane, batch_id)
    keys = [*factory.spec.features, factory.spec.target]
    real = pd.concat([plane.reference(), plane.validated(batch_id)], ignore_index=True)
    for name in ("holdout", "backtest", "train", "everything", "discovery"):
        judged = getattr(sets, name)
        assert "_synthetic" not in judged.columns, name
        assert exact_copies(judged, real, keys).all(), name  # every row is a real row
    assert sets.holdout.merge(synthetic[keys], on=keys).empty  # no synthetic row is judged
    evaluation = plane.evaluation(batch_id)
    assert evaluation["gate_champion"]["rows"] == len(sets.holdout) > 0
    assert evaluation["backtest_champion"]["rows"] == len(batch_frame(small_dataset, batch_id))


def test_broken_batch_is_quarantined_and_stops_the_loop(bootstrapped, resources, instance, small_dataset):
    plane = bootstrapped.plane
    batch_id = production_batches(small_dataset)[0]
    broken = batch_frame(small_dataset, batch_id).drop(columns=["lead_time"])
    broken["adr"] = "not a number"
    buf = io.BytesIO()
    broken.to_csv(buf, index=False)
    plane.land(batch_id, buf.getvalue(), "csv")
    result = _run(instance, resources, batch_id)
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["ingest_gate"].passed is False
    failures = checks["ingest_gate"].metadata["failures"].value
    assert batch_id in failures and "lead_time" in failures and "adr" in failures
    for asset in ["drift_report", "blind_spots", "synthetic_batch", "challenger", "promotion"]:
        assert not _materialized(result, asset), asset
    # the quarantine holds the original bytes and the verdict
    assert plane.storage.read_bytes(f"quarantine/{batch_id}/{batch_id}.csv") == buf.getvalue()
    verdict = json.loads(plane.storage.read_bytes(f"quarantine/{batch_id}/validation.json"))
    assert verdict["passed"] is False
    assert not plane.storage.exists(f"validated/{batch_id}.parquet")
    assert bootstrapped.registry.version_of("champion") == "1"


def test_the_loop_slices_on_the_specs_numeric_bins(tmp_path, instance):
    """The reference snapshot the loop materialises bins numeric columns exactly as the
    spec's blind_spots.numeric_bins says (it once used a default of 10 while every test
    and benchmark measured 5), so discovery searches the grid that was measured."""
    for bins in (3, 7):
        folder = tmp_path / str(bins)
        folder.mkdir()
        spec_path = write_small_spec(folder, blind_spots={"numeric_bins": bins})
        factory = FactoryResource(root=str(folder / "root"), home=str(folder / "home"), spec_path=str(spec_path))
        resources = resources_of(factory)
        assert dg.materialize(reference_assets[:1], resources=resources, instance=instance).success
        plane = DataPlane(factory.plane.storage, load_spec(spec_path))
        profile = plane.profile()
        assert len(profile.column("lead_time").bin_edges) == bins - 1  # a continuous column: every cut is distinct
        codes, conditions = encode(plane.reference(), profile)["lead_time"]
        assert len(conditions) == bins + 1  # the bins and the missing bin


def test_a_dropped_connection_is_retried(factory, resources, instance, small_dataset, monkeypatch):
    from factory.defs.assets import landed_batch

    batch_id = production_batches(small_dataset)[0]
    factory.plane.land_frame(batch_id, batch_frame(small_dataset, batch_id))
    read, calls = DataPlane.read_landed, []

    def flaky(self, batch):
        calls.append(batch)
        if len(calls) == 1:
            raise OSError("connection reset by peer")
        return read(self, batch)

    monkeypatch.setattr(DataPlane, "read_landed", flaky)
    result = _run(instance, resources, batch_id, selection=[landed_batch])
    assert result.success and len(calls) == 2
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retried) == 1
