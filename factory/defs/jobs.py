"""Jobs an operator (or a sensor) launches, one partition (batch) at a time."""

import dagster as dg

from factory.defs.assets import (
    ingest_assets,
    reference_assets,
    regeneration_assets,
    report_assets,
)

# What the jobs that train (and synthesise) ask for when each run is a pod of its own: K8sRunLauncher
# reads this tag per run (deployments/k8s/values.yaml); the other launchers ignore it.
HEAVY = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}}
    }
}

bootstrap_job = dg.define_asset_job(
    "bootstrap_job",
    tags=HEAVY,
    selection=reference_assets,
    description="Snapshot the reference period and train the first champion (once, before any batch).",
)
ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=ingest_assets,
    description="Read a landed batch, run the ingest gate, measure drift.",
)
regeneration_job = dg.define_asset_job(
    "regeneration_job",
    tags=HEAVY,
    selection=regeneration_assets + report_assets,
    description="Find blind spots, synthesise and gate rows for them, retrain, evaluate on real data, promote if "
    "better, redraw the flywheel report.",
)
flywheel_job = dg.define_asset_job(
    "flywheel_job",
    tags=HEAVY,
    selection=ingest_assets + regeneration_assets + report_assets,
    description="The whole loop for one batch: ingest, drift, blind spots, synthesis, retrain, evaluation, "
    "promotion, flywheel report.",
)
