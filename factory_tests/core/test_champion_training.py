"""Discovery compares the newest batch with the rows the champion was trained on, rebuilt
from its MLflow run, not with the reference period: a region the reference lacked but a
later champion learnt from is no coverage gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import BATCH
from factory.core.base.plane import DataPlane
from factory.core.base.profile import profile_reference
from factory.core.base.storage import Storage
from factory.core.flywheel.monitoring import champion_training, discover
from factory.core.flywheel.retraining import train_challenger, train_initial_champion
from factory.core.learn.judge import evaluation_sets
from factory.core.learn.recipe import train_model, window_rows
from factory.core.registry.mlflow_registry import Registry
from factory_tests.core.toy import toy_spec

SPEC = toy_spec()


def frame(seed: int, batch: str, n: int, sc_share: float) -> pd.DataFrame:
    """Hotel-like rows; meal = 'SC' makes up `sc_share` of them."""
    rng = np.random.default_rng(seed)
    lead_time = rng.integers(0, 300, n).astype(float)
    return pd.DataFrame(
        {
            "lead_time": lead_time,
            "adr": rng.normal(100, 25, n).round(2),
            "hotel": rng.choice(["Resort Hotel", "City Hotel"], n),
            "meal": rng.choice(["BB", "HB", "SC"], n, p=[(1 - sc_share) * 0.7, (1 - sc_share) * 0.3, sc_share]),
            "y": (rng.random(n) < 0.2 + 0.6 * lead_time / 300).astype(float),
            BATCH: batch,
        }
    )


@pytest.fixture
def loop(tmp_path) -> tuple[DataPlane, Registry]:
    """A small reference without meal = 'SC', then larger production batches with it."""
    plane = DataPlane(Storage(str(tmp_path / "root")), SPEC)
    reference = pd.concat([frame(1, "2015-01", 400, 0.0), frame(2, "2015-02", 400, 0.0)], ignore_index=True)
    plane.write_reference(reference, profile_reference(reference, SPEC))
    for seed, batch in enumerate(["2015-03", "2015-04", "2015-05", "2015-06"], start=3):
        plane.write_validated(batch, frame(seed, batch, 1500, 0.3))
    return plane, Registry.at(tmp_path / "home", plane)


def coverage_gaps(plane: DataPlane, batch_id: str) -> list[str]:
    table = plane.storage.read_parquet(f"blind_spots/label_free/{batch_id}.parquet")
    return list(table.loc[table["kind"] == "coverage", "predicate"])


def test_a_region_the_champion_has_learnt_from_is_no_coverage_gap(loop):
    plane, registry = loop
    train_initial_champion(plane, registry)
    reference = plane.reference()
    pd.testing.assert_frame_equal(
        champion_training(plane, registry), reference[reference[BATCH] == "2015-01"].reset_index(drop=True)
    )
    discover(plane, registry.load("champion"), "2015-06", registry)
    assert any("SC" in p for p in coverage_gaps(plane, "2015-06"))  # the first champion never saw meal = 'SC'

    plane.storage.write_parquet("synthetic/2015-05/none.accepted.parquet", pd.DataFrame())
    challenger = train_challenger(plane, registry, "2015-05", "synthetic/2015-05/none.accepted.parquet", [])
    registry.promote(challenger.version, "2015-05", "test")
    recipe = next(r for r in SPEC.training.recipes if r.name == challenger.recipe)
    served = window_rows(evaluation_sets(plane, "2015-05").everything, recipe).reset_index(drop=True)
    pd.testing.assert_frame_equal(champion_training(plane, registry), served)
    discover(plane, registry.load("champion"), "2015-06", registry)
    assert not any("SC" in p for p in coverage_gaps(plane, "2015-06"))  # it trained on 2015-03 and 2015-04


def test_a_champion_without_provenance_falls_back_to_the_reference(loop, caplog):
    plane, registry = loop
    train = plane.reference()
    model = train_model(train, SPEC)
    _, version = registry.log_model_run(
        model, "by-hand", params={}, metrics={}, tags={}, example=train[list(SPEC.features)]
    )
    registry.promote(version, "2015-03", "logged outside the loop")
    pd.testing.assert_frame_equal(champion_training(plane, registry), plane.reference())
    assert "reference period" in caplog.text
