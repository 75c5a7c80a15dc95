"""Persistence written back by the flywheel: when the next labelled batch's blind spots
are discovered, the previous batch's reported slices get their lift there, as a new
table (the earlier table is never rewritten)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import BATCH
from factory.core.base.plane import DataPlane
from factory.core.base.profile import profile_reference
from factory.core.base.storage import Storage
from factory.core.discover.persistence import slice_lift
from factory.core.flywheel.monitoring import discover
from factory.core.learn.judge import evaluation_sets
from factory.core.registry.mlflow_registry import Registry
from factory_tests.core.toy import toy_spec

SPEC = toy_spec()


def frame(seed: int, batch: str, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lead_time": rng.integers(0, 300, n).astype(float),
            "adr": rng.normal(100, 25, n).round(2),
            "hotel": rng.choice(["Resort Hotel", "City Hotel"], n),
            "meal": rng.choice(["BB", "HB", "SC"], n, p=[0.6, 0.3, 0.1]),
            "y": rng.integers(0, 2, n).astype(float),
            "u": rng.random(n),  # not a feature: decides where the stand-in model errs
            BATCH: batch,
        }
    )


class ErrsOnSC:
    """Stand-in champion: wrong on 70% of meal = 'SC' rows, 5% elsewhere."""

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        y = df["y"].fillna(0).to_numpy(dtype=int)
        wrong = np.where(df["meal"] == "SC", df["u"] < 0.7, df["u"] < 0.05)
        return np.where(wrong, 1 - y, y)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        return np.where(self.predict(df) == 1, 0.8, 0.2)


@pytest.fixture
def plane(tmp_path):
    plane = DataPlane(Storage(str(tmp_path)), SPEC)
    reference = pd.concat([frame(1, "2015-01"), frame(2, "2015-02")], ignore_index=True)
    plane.write_reference(reference, profile_reference(reference, SPEC))
    for seed, batch in [(3, "2015-03"), (4, "2015-04"), (5, "2015-05")]:
        plane.write_validated(batch, frame(seed, batch))
    return plane


def test_next_discovery_writes_the_previous_slices_persistence(plane, tmp_path):
    model = ErrsOnSC()
    registry = Registry.at(tmp_path / "home", plane)  # no champion: training rows are the reference's
    first = discover(plane, model, "2015-04", registry)  # newest labelled batch: 2015-03
    assert first.blind_spots and not plane.storage.exists("blind_spots/persistence/2015-04.parquet")
    before = plane.storage.read_parquet("blind_spots/2015-04.parquet")

    discover(plane, model, "2015-05", registry)  # newest labelled batch: 2015-04

    table = plane.storage.read_parquet("blind_spots/persistence/2015-05.parquet")
    assert list(table["blind_spot_id"]) == [s.id for s in first.blind_spots]
    assert (table["measured_on"] == "2015-04").all()
    sets = evaluation_sets(plane, "2015-05")
    errors = model.predict(sets.discovery) != sets.discovery["y"].astype(int).to_numpy()
    expected = [slice_lift(s, sets.discovery, errors, "y") for s in first.blind_spots]
    assert table["persistence"].tolist() == pytest.approx(expected)
    sc = [lift for s, lift in zip(first.blind_spots, table["persistence"]) if "SC" in s.predicate]
    assert sc and min(sc) > 3  # the slice the model keeps failing on persists
    pd.testing.assert_frame_equal(plane.storage.read_parquet("blind_spots/2015-04.parquet"), before)
