"""The Dagster code location that workspace.yaml loads.

Settings come from the environment as dg.EnvVar: read when a run starts, and named (not
printed) in the UI. An EnvVar whose variable is unset fails the run rather than fall back to
the field's default, so a variable that is unset when the code loads gets its documented
default instead: FACTORY_ROOT `.factory`, FACTORY_HOME the root when local (else `.factory`),
FACTORY_SPEC specs/hotel.yaml, MLFLOW_TRACKING_URI the embedded SQLite store under FACTORY_HOME,
MLFLOW_UI_URL http://127.0.0.1:5000.
"""

import gc
import hashlib
import os
from importlib.metadata import version
from pathlib import Path

import dagster as dg

from factory.core.base.spec import load_spec
from factory.core.synth.autoregressive import ARGN_VERSION
from factory.core.synth.copula import COPULA_VERSION
from factory.defs.assets import (
    ingest_assets,
    reference_assets,
    regeneration_assets,
    report_assets,
)
from factory.defs.automation import drift_sensor, landing_sensor, regeneration_schedule, warehouse_sensor
from factory.defs.io import StorageIOManager
from factory.defs.jobs import bootstrap_job, flywheel_job, ingest_job, regeneration_job
from factory.defs.operations import operation_checks, operation_jobs
from factory.defs.resources import FactoryResource, MLflowResource
from factory.defs.warehouse import dbt_resource, warehouse, warehouse_job

# A run allocates millions of short-lived objects (pandas, Great Expectations, Dagster's events) beside
# about a million long-lived ones (the libraries). At CPython's default thresholds (700, 10, 10) six hotel
# cycles of `factory replay` spent 6.0 s collecting, 4.6 s of it in full collections; at these, 3.7 s and
# 0.6 s (timed with gc.callbacks)
gc.set_threshold(50_000, 20, 10)

OWNERS = ["team:ml-ops"]  # who is paged for every asset of the factory


def _env(name: str, default: str) -> str:
    return dg.EnvVar(name) if os.environ.get(name) else default


def spec_period(spec_path: str) -> str:
    """The spec's batch period, which picks the schedule (month while the spec cannot be read)."""
    return load_spec(spec_path).period if Path(spec_path).exists() else "month"


def code_versions(spec_path: str) -> dict[str, str]:
    """What changes an asset's output besides its code, as its code version: the spec's content
    for the reference snapshot, the generator's version for synthetic rows, the model family
    for the challenger. Dagster then marks what a change makes stale."""
    path = Path(spec_path)
    if not path.exists():
        return {}
    spec = load_spec(path)
    kind = spec.synthesis.generator
    generators = {
        "gaussian_copula": COPULA_VERSION,
        "autoregressive": ARGN_VERSION,
        "auto": f"{COPULA_VERSION}+{ARGN_VERSION}",
    }
    return {
        "reference_snapshot": f"spec-{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}",
        "synthetic_batch": generators.get(kind, f"{kind}/sdv-{version('sdv')}"),
        "challenger": spec.training.model,
    }


factory = FactoryResource(
    root=_env("FACTORY_ROOT", ".factory"),
    home=_env("FACTORY_HOME", ""),
    spec_path=_env("FACTORY_SPEC", "specs/hotel.yaml"),
)
spec_path = os.environ.get("FACTORY_SPEC") or "specs/hotel.yaml"
versions = code_versions(spec_path)
assets = dg.map_asset_specs(
    lambda spec: spec.replace_attributes(
        owners=OWNERS, code_version=versions.get(spec.key.to_user_string(), spec.code_version)
    ),
    reference_assets + ingest_assets + regeneration_assets + report_assets + [warehouse],
)

defs = dg.Definitions(
    assets=assets,
    asset_checks=operation_checks,
    jobs=[bootstrap_job, ingest_job, regeneration_job, flywheel_job, *operation_jobs, warehouse_job],
    sensors=[landing_sensor, drift_sensor, warehouse_sensor],
    schedules=[regeneration_schedule(spec_period(spec_path))],
    resources={
        "factory": factory,
        "mlflow": MLflowResource(
            factory=factory,
            tracking_uri=_env("MLFLOW_TRACKING_URI", ""),
            ui_url=_env("MLFLOW_UI_URL", "http://127.0.0.1:5000"),
        ),
        "io_manager": StorageIOManager(),
        "dbt": dbt_resource(),
    },
    executor=dg.in_process_executor,
)
