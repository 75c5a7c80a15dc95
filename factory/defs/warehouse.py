"""The dbt warehouse of the loop (dbt/), loaded with dagster-dbt.

Its sources map to the Python assets that write them (`meta.dagster.asset_key` in
dbt/models/staging/_factory__sources.yml), so the marts sit downstream of the loop
and dbt's data tests appear as asset checks. The warehouse is not partitioned: one
run rebuilds it from every batch under the root. The target is dbt's DBT_TARGET:
DuckDB reads the root's files in place; any other target (PostgreSQL) cannot, so the
loop's tables are copied into its schema `factory_raw` first.

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

from factory.core.base.environment import environment
from factory.defs.resources import FactoryResource

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")  # the venv's dbt, even when .venv/bin is not on PATH
project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
RAW_SCHEMA = "factory_raw"  # where the sources read on a database target (_factory__sources.yml)


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
    with environment(FACTORY_ROOT=factory.plane.storage.uri("").rstrip("/"), FACTORY_HOME=str(home)):
        yield


def dbt_target() -> str:
    """dbt's own DBT_TARGET; the profile's default, duckdb, when unset."""
    return os.environ.get("DBT_TARGET") or "duckdb"


def load_raw_tables(factory: FactoryResource) -> dict[str, int]:
    """Copy the loop's tables from the root into RAW_SCHEMA of the PostgreSQL that libpq's
    standard variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) name, each replaced
    whole in one transaction (the staging views over them are dropped too: dbt rebuilds them)."""
    from sqlalchemy import create_engine, text

    tables = factory.plane.warehouse_tables()
    engine = create_engine("postgresql+psycopg2://")  # no arguments: libpq reads the PG* variables
    try:
        with engine.begin() as connection:
            connection.execute(text(f"create schema if not exists {RAW_SCHEMA}"))
            for name, frame in tables.items():
                connection.execute(text(f"drop table if exists {RAW_SCHEMA}.{name} cascade"))
                frame.to_sql(name, connection, schema=RAW_SCHEMA, index=False)
    finally:
        engine.dispose()
    return {name: len(frame) for name, frame in tables.items()}


@dbt_assets(
    manifest=project.manifest_path,
    project=project,
    name="warehouse",
    dagster_dbt_translator=_Translator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    pool="warehouse",  # one build at a time: a second one waits instead of replacing tables under the first
)
def warehouse(context: dg.AssetExecutionContext, dbt: DbtCliResource, factory: FactoryResource):
    """`dbt build` over everything the factory has written: staging views, marts, tests."""
    with _dbt_env(factory):
        if dbt_target() != "duckdb":
            context.log.info(f"rows copied into {RAW_SCHEMA}: {load_raw_tables(factory)}")
        yield from dbt.cli(["build"], context=context).stream()


warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=dg.AssetSelection.assets(warehouse),
    description="Rebuild the dbt warehouse (staging views, marts, data tests) from every batch under the root.",
)
