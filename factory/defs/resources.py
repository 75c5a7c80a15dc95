"""Resources: where the factory keeps its state (the IO manager over the same root is io.py's).

Configuration comes from the environment so that the CLI, `dagster dev` and tests
agree: FACTORY_ROOT (storage root, local path or s3://bucket/prefix; default
`.factory`), FACTORY_HOME (local state: Dagster instance, MLflow store, DuckDB file;
default the root when local, else `.factory`), FACTORY_SPEC (default specs/hotel.yaml),
MLFLOW_UI_URL (base URL of the MLflow UI for links; default http://127.0.0.1:5000).
"""

from __future__ import annotations

import os
from functools import cache

import dagster as dg
from pydantic import Field

from factory.core.base.plane import DataPlane
from factory.core.base.spec import DatasetSpec, load_spec
from factory.core.base.storage import Storage
from factory.core.registry.mlflow_registry import Registry
from factory.defs.io import StorageIOManager as StorageIOManager  # its old home: keeps that import working
from factory.defs.io import default_root


def default_home(root: str | None = None) -> str:
    root = root or default_root()
    if "FACTORY_HOME" in os.environ:
        return os.environ["FACTORY_HOME"]
    return ".factory" if "://" in root else root


def default_spec() -> str:
    return os.environ.get("FACTORY_SPEC", "specs/hotel.yaml")


@cache
def _spec(path: str) -> DatasetSpec:
    return load_spec(path)


class FactoryResource(dg.ConfigurableResource):
    """The dataset spec, the storage root and the MLflow registry of one factory."""

    root: str = Field(default_factory=default_root, description="Storage root: a local path or s3://bucket/prefix.")
    home: str = Field(default_factory=default_home, description="Local state: Dagster instance, MLflow store, DuckDB.")
    spec_path: str = Field(default_factory=default_spec, description="The dataset spec YAML.")
    mlflow_ui_url: str = Field(
        default_factory=lambda: os.environ.get("MLFLOW_UI_URL", "http://127.0.0.1:5000"),
        description="Base URL of the MLflow UI, for links in metadata.",
    )

    @property
    def spec(self) -> DatasetSpec:
        return _spec(self.spec_path)

    @property
    def plane(self) -> DataPlane:
        return DataPlane(Storage(self.root), self.spec)

    @property
    def registry(self) -> Registry:
        return Registry.at(self.home, self.plane)

    def run_url(self, run_id: str) -> str:
        return f"{self.mlflow_ui_url.rstrip('/')}/#/experiments/{self.registry.experiment_id()}/runs/{run_id}"
