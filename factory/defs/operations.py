"""What an operator launches from the UI, and the drift warning.

- promote_version_job: point `champion` at a named model version, with a reason.
- rollback_job: point `champion` back at a version that served before, with a reason.
Both write the promotion ledger (`factory ledger`), so every move of the alias is
explained. Regenerating a chosen batch needs no job of its own: launch
regeneration_job and pick the batch (partition) in the launchpad.
- drift_check: WARN (never blocking) when a batch's drift share passes the spec's
  share_threshold; the drift sensor reacts to the same number.
"""

import dagster as dg
from pydantic import Field

from factory.core.base.rounding import rounded
from factory.core.base.types import DriftReport
from factory.defs.assets.ingest import drift_report
from factory.defs.assets.tables import CHAMPION_POOL
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource, MLflowResource


class PromoteConfig(dg.Config):
    """Which model version becomes champion, and why (kept in the ledger)."""

    version: str = Field(
        description="The MLflow model version to serve, e.g. '3' (see the challenger asset's metadata or `factory "
        "ledger`)."
    )
    reason: str = Field(description="Why a person overrides the gate: it goes to the ledger and the version's tags.")


class RollbackConfig(dg.Config):
    """The earlier champion to serve again, and why."""

    version: str = Field(description="A version that was champion before (`factory ledger` lists them).")
    reason: str = Field(description="What went wrong with the current champion: it goes to the ledger.")


@dg.op(
    pool=CHAMPION_POOL,
    description="Point the MLflow alias `champion` at the chosen version and record a manual promotion in the ledger.",
)
def promote_version(context: dg.OpExecutionContext, config: PromoteConfig, mlflow: MLflowResource) -> None:
    registry = mlflow.registry
    previous = registry.version_of("champion")
    registry.promote(config.version, batch_id="", reason=config.reason, action="manual")
    context.log.info(f"champion {previous} -> {config.version}: {config.reason}")


@dg.op(
    pool=CHAMPION_POOL,
    description="Point the MLflow alias `champion` back at an earlier champion and record the rollback in the ledger.",
)
def rollback_champion(context: dg.OpExecutionContext, config: RollbackConfig, mlflow: MLflowResource) -> None:
    registry = mlflow.registry
    previous = registry.version_of("champion")
    registry.rollback(config.version, config.reason)
    context.log.info(f"champion {previous} rolled back to {config.version}: {config.reason}")


@dg.job(
    description="Promote a named model version to champion by hand, with a reason; the ledger records it as 'manual'."
)
def promote_version_job():
    promote_version()


@dg.job(
    description="Roll the champion back to a version that served before, with a reason; the ledger records it as "
    "'rollback'."
)
def rollback_job():
    rollback_champion()


@dg.asset_check(
    asset=drift_report,
    partitions_def=batches,
    description="WARN when the batch's drift share reaches the spec's share_threshold: the drift sensor will start "
    "a regeneration for it. Never blocks the loop.",
)
def drift_check(factory: FactoryResource, drift_report: DriftReport) -> dg.AssetCheckResult:
    threshold = factory.spec.drift.share_threshold
    share = float(drift_report.drift_share)
    return dg.AssetCheckResult(
        passed=share < threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "drift_share": rounded(share),
            "share_threshold": float(threshold),
            "drifted_columns": ", ".join(drift_report.drifted_columns) or "none",
        },
    )


operation_jobs = [promote_version_job, rollback_job]
operation_checks = [drift_check]
