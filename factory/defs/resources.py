"""Resources: where the factory keeps its state, its MLflow store, and an IO manager over the root.

factory/definitions.py configures them from the environment with dg.EnvVar (FACTORY_ROOT,
FACTORY_HOME, FACTORY_SPEC, MLFLOW_TRACKING_URI, MLFLOW_UI_URL); the defaults here are the documented ones for an
unset variable: root `.factory`, home the root when it is local (else `.factory`), spec
specs/hotel.yaml, MLflow UI http://127.0.0.1:5000.
"""

from __future__ import annotations

import dataclasses
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
    """FACTORY_HOME, else the root when it is local, else .factory (databases cannot live on S3)."""
    return os.environ.get("FACTORY_HOME") or _home_of(root or default_root())


def _home_of(root: str) -> str:
    return ".factory" if "://" in root else root


@cache
def _spec(path: str) -> DatasetSpec:
    return load_spec(path)


class FactoryResource(dg.ConfigurableResource):
    """The dataset spec and the storage root of one factory."""

    root: str = Field(default=".factory", description="Storage root: a local path or s3://bucket/prefix.")
    home: str = Field(
        default="",
        description="Local state (Dagster instance, MLflow store, DuckDB); empty: the root when it is local, "
        "else .factory.",
    )
    spec_path: str = Field(default="specs/hotel.yaml", description="The dataset spec YAML.")

    @property
    def local_home(self) -> str:
        return self.home or _home_of(self.root)

    @property
    def spec(self) -> DatasetSpec:
        return _spec(self.spec_path)

    @property
    def plane(self) -> DataPlane:
        return DataPlane(Storage(self.root), self.spec)

    @property
    def registry(self) -> Registry:
        """The MLflow registry with the default settings (the CLI, tests); assets take MLflowResource."""
        return MLflowResource(factory=self).registry


class MLflowResource(dg.ConfigurableResource):
    """The MLflow tracking store and registered model of a factory: hands out the core Registry."""

    factory: FactoryResource
    tracking_uri: str = Field(
        default="",
        description="MLflow tracking URI; empty: MLFLOW_TRACKING_URI, else the embedded sqlite:///<home>/mlflow.db.",
    )
    model_name: str = Field(default="", description="The registered model; empty: factory-<spec name>.")
    ui_url: str = Field(default="http://127.0.0.1:5000", description="Base URL of the MLflow UI, for links.")

    @property
    def registry(self) -> Registry:
        registry = Registry.at(self.factory.local_home, self.factory.plane)
        if self.tracking_uri and self.tracking_uri != registry.tracking_uri:  # that store decides where artifacts go
            registry = dataclasses.replace(registry, tracking_uri=self.tracking_uri, artifact_root="")
        return dataclasses.replace(registry, model_name=self.model_name or registry.model_name)

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/#/experiments/{self.registry.experiment_id()}/runs/{run_id}"
