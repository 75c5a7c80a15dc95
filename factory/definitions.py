"""The Dagster code location that workspace.yaml loads."""

import dagster as dg

from factory.defs.assets import (
    ingest_assets,
    reference_assets,
    regeneration_assets,
    report_assets,
)
from factory.defs.automation import daily_regeneration, drift_sensor, landing_sensor
from factory.defs.io import StorageIOManager
from factory.defs.jobs import bootstrap_job, flywheel_job, ingest_job, regeneration_job
from factory.defs.operations import operation_checks, operation_jobs
from factory.defs.resources import FactoryResource
from factory.defs.warehouse import dbt_resource, warehouse, warehouse_job

defs = dg.Definitions(
    assets=reference_assets + ingest_assets + regeneration_assets + report_assets + [warehouse],
    asset_checks=operation_checks,
    jobs=[bootstrap_job, ingest_job, regeneration_job, flywheel_job, *operation_jobs, warehouse_job],
    sensors=[landing_sensor, drift_sensor],
    schedules=[daily_regeneration],
    resources={"factory": FactoryResource(), "io_manager": StorageIOManager(), "dbt": dbt_resource()},
    executor=dg.in_process_executor,
)
