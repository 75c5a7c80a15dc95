"""The training world: the reference snapshot and the first champion."""

import dagster as dg

from factory.core.flywheel.retraining import train_initial_champion
from factory.defs.assets.tables import CHAMPION_POOL, RETRY, figures, frame_metadata
from factory.defs.resources import FactoryResource, MLflowResource


@dg.asset(
    group_name="reference",
    kinds={"python", "pandas"},
    retry_policy=RETRY,
    description="The training world: the spec's first batches and their statistics (bins, categories, ranges), "
    "computed once.",
)
def reference_snapshot(factory: FactoryResource) -> dg.MaterializeResult:
    reference, profile, later = factory.plane.snapshot_reference()
    return dg.MaterializeResult(
        metadata=figures(
            {
                **frame_metadata(reference),
                "rows": len(reference),
                "content_hash": profile.content_hash,
                "batches": f"{reference['_batch'].min()} .. {reference['_batch'].max()}",
                "positive_rate": float(profile.positive_rate),
                "later_batches": len(later),
                "path": dg.MetadataValue.path(factory.plane.reference_uri()),
            }
        )
    )


@dg.asset(
    group_name="reference",
    deps=[reference_snapshot],
    pool=CHAMPION_POOL,
    kinds={"python", "mlflow"},
    retry_policy=RETRY,
    description="The first champion, trained on the reference period; promoted without a baseline. A no-op once a "
    "champion exists.",
)
def initial_champion(factory: FactoryResource, mlflow: MLflowResource) -> dg.MaterializeResult:
    registry = mlflow.registry
    existing = registry.version_of("champion")
    version = existing or train_initial_champion(factory.plane, registry)
    return dg.MaterializeResult(metadata={"champion_version": version, "trained_now": existing is None})
