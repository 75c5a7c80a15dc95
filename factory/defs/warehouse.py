"""The dbt warehouse of the loop (dbt/), loaded with dagster-dbt.

Its sources map to the Python assets that write them (`meta.dagster.asset_key` in
dbt/models/staging/_factory__sources.yml), so the marts sit downstream of the loop
and dbt's data tests appear as asset checks. The warehouse is not partitioned: one
run rebuilds it from every batch under the root.

The manifest: the Makefile prepares dbt/target/manifest.json (`dbt parse`) at install
and whenever a model changes, so importing this module never parses. Only when the
manifest is missing (an install without make) is it prepared here, once, because
@dbt_assets needs it to define the assets at all (~6 s on a quiet machine).
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from factory.defs.resources import FactoryResource

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")  # the venv's dbt, even when .venv/bin is not on PATH
project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)


if not project.manifest_path.exists():  # what project.preparer.prepare does, with the venv's dbt
    dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()


class _Translator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest, unique_id, project):
        return super().get_asset_spec(manifest, unique_id, project).replace_attributes(group_name="warehouse")


@contextmanager
def _dbt_env(factory: FactoryResource) -> Iterator[None]:
    """dbt reads the root and the DuckDB location from the environment; make them absolute."""
    home = Path(factory.local_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    values = {"FACTORY_ROOT": factory.plane.storage.uri("").rstrip("/"), "FACTORY_HOME": str(home)}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dbt_assets(
    manifest=project.manifest_path,
    project=project,
    name="warehouse",
    dagster_dbt_translator=_Translator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def warehouse(context: dg.AssetExecutionContext, dbt: DbtCliResource, factory: FactoryResource):
    """`dbt build` over everything the factory has written: staging views, marts, tests."""
    with _dbt_env(factory):
        yield from dbt.cli(["build"], context=context).stream()


warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=dg.AssetSelection.assets(warehouse),
    description="Rebuild the dbt warehouse (staging views, marts, data tests) from every batch under the root.",
)
