"""Cycle steps before retraining: watch the batch (drift, label-free performance) and find
the champion's blind spots on the newest labelled batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import pandas as pd

from factory.core.base.dataset import BATCH, content_hash
from factory.core.base.plane import DataPlane
from factory.core.base.types import (
    ColumnDrift,
    DriftReport,
    PerformanceEstimate,
    plain,
)
from factory.core.discover.coverage import find_coverage_gaps, find_low_confidence
from factory.core.discover.error_slices import find_blind_spots
from factory.core.discover.persistence import blind_spot_table, persistence_table
from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.retraining import LOG
from factory.core.learn.judge import discovery_pool, evaluation_sets, initial_training
from factory.core.learn.model import Classifier
from factory.core.learn.recipe import window_rows
from factory.core.monitor.drift import domain_classifier, fast_drift, prediction_drift
from factory.core.monitor.estimation import estimate_for
from factory.core.monitor.evidently_report import detect_drift, drift_table, with_verdict
from factory.core.registry.mlflow_registry import Registry


@dataclass(frozen=True)
class Monitoring:
    """Everything measured on a batch before its labels arrive."""

    report: DriftReport
    estimate: PerformanceEstimate  # the champion's label-free performance on the batch
    estimated_auc_drop: float | None  # vs the same estimate on the reference's last batch
    prediction_drift: ColumnDrift
    html_uri: str


def monitor(plane: DataPlane, champion: Classifier, batch_id: str) -> Monitoring:
    """Drift on the stored profile (fast path), the Evidently HTML report, prediction
    drift, a domain classifier and the CBPE estimate, recalibrated on the newest
    labelled batch. Persists the tidy drift table and the estimate."""
    spec = plane.spec
    current, reference = plane.validated(batch_id), plane.reference()
    report = fast_drift(batch_id, current, plane.profile(), spec)
    page, html = detect_drift(batch_id, reference, current, spec)
    baseline_rows = reference[reference[BATCH] == reference[BATCH].max()]
    labelled = evaluation_sets(plane, batch_id)  # read once per cycle: the later steps use the same sets
    newest = labelled.everything[labelled.everything[BATCH] == labelled.newest]
    estimate = estimate_for(champion, current, spec.target, calibration=newest)
    baseline = estimate_for(champion, baseline_rows, spec.target)
    scores = prediction_drift(
        champion.predict_proba(baseline_rows), champion.predict_proba(current), spec.drift.stattest_threshold
    )
    domain_auc, domain_features = domain_classifier(reference, current, spec)
    report = replace(
        report,
        mean_score=estimate.expected_positive_rate,
        estimated_auc=estimate.auc,
        domain_auc=domain_auc,
        domain_features=domain_features,
    )
    sampled = min(len(current), spec.drift.report_sample_rows)
    html = with_verdict(html, page, report, sampled, spec.drift.share_threshold)
    html_uri = plane.write_report("drift", batch_id, "html", html)
    plane.write_report("drift", batch_id, "parquet", drift_table(report))
    plane.write_report("estimation", batch_id, "json", plain({**asdict(estimate), "prediction_drift": asdict(scores)}))
    drop = baseline.auc - estimate.auc if baseline.auc is not None and estimate.auc is not None else None
    return Monitoring(report, estimate, drop, scores, html_uri)


def champion_training(plane: DataPlane, registry: Registry) -> pd.DataFrame:
    """The real rows the champion was trained on, rebuilt from what its MLflow run
    recorded rather than kept as a copy: the initial champion's reference minus its last
    batch (checked by row count), a challenger's recipe window of every row labelled in
    its cycle (checked by content hash). Without that provenance (a model logged outside the loop, rows that
    changed since) the reference period stands in, with a warning.

    Real rows only, not the accepted synthetic rows a challenger may also have used: they
    were drawn from a generator fitted on these same rows, so they add no ground truth to
    a region, and counting them would let the loop close its coverage gaps with its own copies."""
    version = registry.version_of("champion")
    run = registry.run_of(version) if version else {}
    if run.get("factory.role") == "initial":
        rows = initial_training(plane.reference())
        if run.get("rows") == str(len(rows)):
            return rows.reset_index(drop=True)
    elif "batch_id" in run:
        recipes = {r.name: r for r in plane.spec.training.recipes}
        if run.get("recipe") in recipes:
            rows = window_rows(evaluation_sets(plane, run["batch_id"]).everything, recipes[run["recipe"]])
            if run.get("factory.real_hash") == content_hash(rows):
                return rows.reset_index(drop=True)
    LOG.warning(
        "champion version %s: no recorded training set matches its run; "
        "blind spots compare with the reference period instead",
        version,
    )
    return plane.reference()


def discover(plane: DataPlane, champion: Classifier, batch_id: str, registry: Registry) -> SliceSearch:
    """Error slices of the champion on the newest labelled batch (before its holdout; a small
    one pooled with earlier batches the champion was not trained on: learn.judge.discovery_pool),
    the previous batch's slices' persistence there, and the newest batch's label-free spots.
    A slice's `train_support` and the coverage gaps count the rows the champion was
    trained on, not the reference period: the loop has taught it more since."""
    spec, training = plane.spec, champion_training(plane, registry)
    sets = evaluation_sets(plane, batch_id)
    rows, pooled = discovery_pool(sets, training, spec.blind_spots)
    wrong = champion.predict(rows) != rows[spec.target].astype(int).to_numpy()
    history = plane.blind_spot_history(before=batch_id)
    search = find_blind_spots(rows, wrong, spec, plane.profile(), reference=training, history=history)
    search = replace(search, rows=len(rows), pooled=pooled)
    plane.write_blind_spots(batch_id, blind_spot_table(search.blind_spots, batch_id))
    errors = wrong[len(rows) - len(sets.discovery) :]  # the newest batch's rows come last
    if history:  # persistence: the previous batch's slices' lift on this labelled batch, as a new table
        plane.write_blind_spots(
            batch_id,
            persistence_table(history[-1], sets.discovery, errors, plane.spec.target, sets.newest),
            kind="persistence",
        )
    # label-free blind spots of the newest batch itself, kept apart: synthesis targets error slices only
    current = plane.validated(batch_id)
    proba = champion.predict_proba(current) if len(current) else []
    label_free = find_coverage_gaps(current, training, plane.spec, plane.profile(), proba=proba).blind_spots
    label_free += find_low_confidence(current, proba, plane.spec, plane.profile(), reference=training).blind_spots
    plane.write_blind_spots(batch_id, blind_spot_table(label_free, batch_id), kind="label_free")
    return search
