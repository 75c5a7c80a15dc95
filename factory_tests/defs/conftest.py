"""Fixtures for the Dagster layer: a small slice of the real hotel data (written to a
temporary folder, never to the repository), a real Dagster instance, a real MLflow
SQLite store, and a factory bootstrapped on them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from factory.core.base.dataset import BATCH, load_dataset
from factory.core.base.spec import load_spec
from factory.defs.io import StorageIOManager
from factory.defs.resources import FactoryResource, MLflowResource

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SHARE = 0.12


def write_small_spec(folder: Path, **settings: dict) -> Path:
    """specs/hotel.yaml pointed at a 12% sample of the real hotel data, written under
    `folder`; `settings` replace whole settings blocks (e.g. blind_spots={...})."""
    spec = load_spec(REPO / "specs" / "hotel.yaml")
    raw = pd.read_csv(Path(spec.spec_path).parent / spec.source.path, **spec.source.options)
    raw.sample(frac=SAMPLE_SHARE, random_state=0).to_csv(folder / "hotel-sample.csv", index=False)
    text = yaml.safe_load((REPO / "specs" / "hotel.yaml").read_text())
    text["source"]["path"] = str(folder / "hotel-sample.csv")
    text["source"]["url"] = None
    text["training"] = {"n_estimators": 80}
    text["baselines"] = {"enabled": True}  # off by default in production; the loop tests cover them
    text.update(settings)
    path = folder / "hotel-small.yaml"
    path.write_text(yaml.safe_dump(text))
    return path


@pytest.fixture(scope="session")
def small_spec_path(tmp_path_factory) -> Path:
    return write_small_spec(tmp_path_factory.mktemp("small-hotel"))


@pytest.fixture(scope="session")
def small_dataset(small_spec_path) -> pd.DataFrame:
    return load_dataset(load_spec(small_spec_path))


def production_batches(dataset: pd.DataFrame, reference_batches: int = 12) -> list[str]:
    return sorted(dataset[BATCH].unique())[reference_batches:]


def batch_frame(dataset: pd.DataFrame, batch_id: str) -> pd.DataFrame:
    return dataset[dataset[BATCH] == batch_id].drop(columns=[BATCH])


@pytest.fixture
def factory(tmp_path, small_spec_path) -> FactoryResource:
    return FactoryResource(root=str(tmp_path / "root"), home=str(tmp_path / "home"), spec_path=str(small_spec_path))


def resources_of(factory: FactoryResource) -> dict:
    """The resources the code location binds, for one factory."""
    return {
        "factory": factory,
        "mlflow": MLflowResource(factory=factory),
        "io_manager": StorageIOManager(root=factory.root),
    }


@pytest.fixture
def resources(factory) -> dict:
    return resources_of(factory)


@contextmanager
def temporary_instance() -> Iterator[dg.DagsterInstance]:
    """A temporary Dagster instance without a definitions-state storage: Dagster's test
    instances can share one storage object that stays registered to an earlier, collected
    instance, and the next definitions load then fails ("undefined DagsterInstance weakref",
    seen when test_automation ran before test_loop). The loop uses no state-backed definitions."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with dg.instance_for_test() as inst, set_defs_state_storage(None):
        yield inst


@pytest.fixture
def instance():
    with temporary_instance() as inst:
        yield inst


@pytest.fixture
def bootstrapped(factory, resources, instance):
    """Reference snapshot and first champion materialised through Dagster."""
    from factory.defs.assets import reference_assets

    result = dg.materialize(reference_assets, resources=resources, instance=instance)
    assert result.success
    return factory
