"""The loop as assets, one module per stage. Each body unpacks resources, calls
factory.core and reports metadata."""

from factory.defs.assets.discovery import blind_spots, generation_plan
from factory.defs.assets.ingest import drift_report, landed_batch, validated_batch
from factory.defs.assets.learning import baselines, challenger, evaluation, promotion
from factory.defs.assets.reference import initial_champion, reference_snapshot
from factory.defs.assets.report import flywheel_report
from factory.defs.assets.synthesis import synthetic_batch, synthetic_validation

reference_assets = [reference_snapshot, initial_champion]
ingest_assets = [landed_batch, validated_batch, drift_report]
regeneration_assets = [
    blind_spots,
    generation_plan,
    synthetic_batch,
    synthetic_validation,
    challenger,
    evaluation,
    baselines,
    promotion,
]
report_assets = [flywheel_report]
