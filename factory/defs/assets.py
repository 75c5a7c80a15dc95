"""The loop as assets. Each body unpacks resources, calls factory.core and reports."""


from dataclasses import asdict

import dagster as dg
import pandas as pd

from factory.core import flywheel
from factory.core.base import report
from factory.core.base.dataset import BATCH, load_dataset
from factory.core.base.plane import reference_from_source
from factory.core.base.profile import profile_reference
from factory.core.base.types import DriftReport, ValidationOutcome, plain
from factory.core.discover.scan import SliceSearch
from factory.core.gate.ingest import outcome_html, validate_batch
from factory.core.synth.plan import GenerationPlan
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource

LOOP = "flywheel"


def _md(rows: list[dict]) -> dg.MetadataValue:
    if not rows:
        return dg.MetadataValue.md("_none_")
    frame = pd.DataFrame(rows)
    return dg.MetadataValue.md(frame.to_markdown(index=False, floatfmt=".3f"))


@dg.asset(group_name="reference", description="The training world: the spec's first batches and their statistics (bins, categories, ranges), computed once.")
def reference_snapshot(factory: FactoryResource) -> dg.MaterializeResult:
    dataset = load_dataset(factory.spec)
    reference, later = reference_from_source(factory.spec, dataset)
    profile = profile_reference(reference, factory.spec)
    factory.plane.write_reference(reference, profile)
    return dg.MaterializeResult(metadata={
        "rows": len(reference), "content_hash": profile.content_hash,
        "batches": f"{reference['_batch'].min()} .. {reference['_batch'].max()}",
        "positive_rate": float(profile.positive_rate), "later_batches": len(later),
        "path": dg.MetadataValue.path(factory.plane.reference_uri()),
    })


@dg.asset(group_name="reference", deps=[reference_snapshot], description="The first champion, trained on the reference period; promoted without a baseline. A no-op once a champion exists.")
def initial_champion(factory: FactoryResource) -> dg.MaterializeResult:
    existing = factory.registry.version_of("champion")
    version = existing or flywheel.train_initial_champion(factory.plane, factory.registry)
    return dg.MaterializeResult(metadata={"champion_version": version, "trained_now": existing is None})


@dg.asset(group_name=LOOP, partitions_def=batches, description="A production batch as it landed under landing/: rows and content hash.")
def landed_batch(context: dg.AssetExecutionContext, factory: FactoryResource) -> dg.MaterializeResult:
    batch_id = context.partition_key
    frame = factory.plane.read_landed(batch_id)
    manifest = factory.plane.landing_manifest(batch_id)
    return dg.MaterializeResult(metadata={
        "rows": len(frame), "columns": len(frame.columns), "sha256": manifest["sha256"],
        "source": dg.MetadataValue.path(factory.plane.storage.uri(manifest["key"])),
    })


@dg.asset(
    group_name=LOOP, partitions_def=batches, deps=[landed_batch, initial_champion],
    check_specs=[dg.AssetCheckSpec("ingest_gate", asset="validated_batch", blocking=True,
                                   description="Great Expectations suite from the reference: a structural failure quarantines the batch and stops the loop.")],
    description="The landed batch after the ingest gate (Great Expectations), normalised. A failing batch is copied to quarantine/ and nothing downstream runs.",
)
def validated_batch(context: dg.AssetExecutionContext, factory: FactoryResource):
    batch_id, plane = context.partition_key, factory.plane
    columns = [c for c in plane.reference().columns if c != BATCH]  # the reference's column set and order
    outcome = validate_batch(batch_id, plane.read_landed(batch_id), factory.spec, plane.profile(), columns=columns)
    report = plane.write_report("validation", batch_id, "json", asdict(outcome))
    page = plane.write_report("validation", batch_id, "html", outcome_html(outcome, "Ingest gate"))
    meta = {"rows": outcome.rows, "expectations": outcome.expectations, "failures": len(outcome.failures),
            "warnings": len(outcome.warnings), "report": dg.MetadataValue.path(report), "report_html": dg.MetadataValue.path(page)}
    if not outcome.passed:
        where = plane.quarantine(outcome)
        context.log.error("\n".join(outcome.failures))
        yield dg.Output(outcome, metadata={**meta, "quarantined": dg.MetadataValue.path(where)})
        yield dg.AssetCheckResult(check_name="ingest_gate", passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                  metadata={"failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in outcome.failures)),
                                            "quarantined": dg.MetadataValue.path(where)})
        return
    plane.write_validated(batch_id, plane.normalise(plane.read_landed(batch_id), batch_id))
    yield dg.Output(outcome, metadata=meta)
    yield dg.AssetCheckResult(check_name="ingest_gate", passed=True,
                              metadata={"warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in outcome.warnings) or "none")})


@dg.asset(group_name=LOOP, partitions_def=batches, description="Drift of the batch against the reference profile (Evidently's tests, fast path), prediction drift and label-free performance estimate (CBPE) of the champion; Evidently DataDriftPreset HTML report on a sample.")
def drift_report(context: dg.AssetExecutionContext, factory: FactoryResource, validated_batch: ValidationOutcome) -> dg.Output[DriftReport]:
    m = flywheel.monitor(factory.plane, factory.registry.load("champion"), context.partition_key)
    report, estimate, scores = m.report, m.estimate, m.prediction_drift
    drifted = [dict(column=c.column, test=c.test, statistic=c.score, threshold=c.threshold, reference=c.reference_summary,
                    current=c.current_summary) for c in report.columns if c.drifted]
    interval = f"[{estimate.auc_low:.3f}, {estimate.auc_high:.3f}]" if estimate.auc_low is not None else None
    return dg.Output(report, metadata={**plain({
        "drift_share": report.drift_share, "n_drifted": len(report.drifted_columns), "share_threshold": factory.spec.drift.share_threshold,
        "drift_test_seconds": report.seconds, "prediction_drift": f"{scores.test} {scores.score:.3f} (drifted: {scores.drifted})",
        "estimated_auc": estimate.auc, "estimated_auc_interval": interval, "estimated_auc_drop": m.estimated_auc_drop,
        "estimated_f1": estimate.f1, "estimated_recall": estimate.recall, "realised_auc": estimate.realised_auc,
        "realised_f1": estimate.realised_f1, "realised_recall": estimate.realised_recall,
        "domain_classifier_auc": report.domain_auc, "domain_features": ", ".join(report.domain_features),
    }), "drifted_columns": _md(drifted), "evidently_report": dg.MetadataValue.path(m.html_uri)})


@dg.asset(group_name=LOOP, partitions_def=batches, deps=[validated_batch],
          description="Readable slices of the newest labelled batch where the champion errs significantly more than overall.")
def blind_spots(context: dg.AssetExecutionContext, factory: FactoryResource) -> dg.Output[SliceSearch]:
    champion = factory.registry.load("champion")
    search = flywheel.discover(factory.plane, champion, context.partition_key, factory.registry)
    rows = [dict(predicate=s.predicate, kind=s.kind, metric=s.metric, support=s.support, train_support=s.train_support, error=s.error_rate,
                 error_ci=f"[{s.error_low:.2f}, {s.error_high:.2f}]", lift=s.lift, lift_shrunk=s.lift_shrunk, replication=s.replication,
                 recurrence=s.recurrence, persistence=s.persistence, id=s.id) for s in search.blind_spots]
    return dg.Output(search, metadata={"blind_spots": _md(rows), "count": len(rows), "slices_tested": search.tested,
                                       "significant": search.significant, "reason": search.reason or "found"})


@dg.asset(group_name=LOOP, partitions_def=batches,
          description="The generation plan: rows per blind spot (its deficit or excess errors, capped per slice and by the budget) and the label mix, with why each slice got its rows or none.")
def generation_plan(context: dg.AssetExecutionContext, factory: FactoryResource, blind_spots: SliceSearch) -> dg.Output[GenerationPlan]:
    plan, uri = flywheel.plan_synthesis(factory.plane, context.partition_key, list(blind_spots.blind_spots), context.run_id[:8])
    rows = [{k: r[k] for k in ("predicate", "kind", "want", "rows", "positives", "why")} for r in plan.table()]
    return dg.Output(plan, metadata={"slices": _md(rows), "rows": plan.rows, "budget": plan.budget, "slice_cap": plan.slice_cap,
                                     "real_rows": plan.real_rows, "planned": len(plan.requests),
                                     "skipped": len(plan.slices) - len(plan.requests), "reason": plan.reason or "planned",
                                     "path": dg.MetadataValue.path(uri)})


@dg.asset(group_name=LOOP, partitions_def=batches,
          description="Synthetic rows for exactly the planned slices (per-class Gaussian copula conditioned in latent space by default; spec.synthesis.generator), each with lineage columns.")
def synthetic_batch(context: dg.AssetExecutionContext, factory: FactoryResource, generation_plan: GenerationPlan) -> dg.Output[flywheel.SyntheticBatch]:
    result = flywheel.synthesize(factory.plane, context.partition_key, generation_plan, context.run_id[:8])
    for failure in result.failures:
        context.log.warning(failure)
    return dg.Output(result, metadata={"rows": result.rows, "requested": result.requested, "failures": len(result.failures),
                                       "generator": result.generator.get("generator", factory.plane.spec.synthesis.generator),
                                       **({"generator_choice": _md([dict(generator=k, **v) for k, v in result.generator["candidates"].items()])}
                                          if "candidates" in result.generator else {}),
                                       "path": dg.MetadataValue.path(factory.plane.storage.uri(result.key))})


@dg.asset(
    group_name=LOOP, partitions_def=batches,
    check_specs=[dg.AssetCheckSpec("synthetic_gate", asset="synthetic_validation", blocking=True,
                                   description="Rows failing the suite, a business rule, their predicate, or copying a real row are dropped; a missing lineage column rejects the batch.")],
    description="The synthetic rows that passed the gate (Great Expectations suite, business rules, predicates, no copies of real rows).",
)
def synthetic_validation(context: dg.AssetExecutionContext, factory: FactoryResource, synthetic_batch: flywheel.SyntheticBatch, blind_spots: SliceSearch):
    gated = flywheel.gate(factory.plane, context.partition_key, synthetic_batch, list(blind_spots.blind_spots))
    key, outcome = gated.accepted_key, gated.outcome
    accepted = outcome.rows - outcome.rows_dropped if outcome.passed else 0
    storage = factory.plane.storage
    per_spot = report.plan_vs_accepted(list(synthetic_batch.plan), storage.read_parquet(synthetic_batch.key), storage.read_parquet(key))
    yield dg.Output(key, metadata={"accepted": accepted, "dropped": outcome.rows_dropped, "generated": outcome.rows,
                                   "plan_vs_accepted": _md(per_spot), **plain(flywheel.fidelity_headline(factory.plane, outcome)),
                                   **({"fidelity_report": dg.MetadataValue.path(outcome.report_uri)} if outcome.report_uri else {}),
                                   "report": dg.MetadataValue.path(storage.uri(f"reports/synthetic_validation/{context.partition_key}.json"))})
    # a fidelity or privacy breach rejects the rows (the cycle goes on real-only): WARN; a broken structure: ERROR
    severity = dg.AssetCheckSeverity.ERROR if not gated.structural else dg.AssetCheckSeverity.WARN
    yield dg.AssetCheckResult(check_name="synthetic_gate", passed=outcome.passed, severity=severity,
                              metadata={"dropped": outcome.rows_dropped, "reasons": dg.MetadataValue.md("\n".join(f"- {w}" for w in outcome.warnings + outcome.failures) or "none")})


@dg.asset(group_name=LOOP, partitions_def=batches,
          description="The challenger, trained with and without the accepted synthetic rows (ablation); the better on the real holdout is registered in MLflow.")
def challenger(context: dg.AssetExecutionContext, factory: FactoryResource, synthetic_validation: str, blind_spots: SliceSearch) -> dg.Output[flywheel.Challenger]:
    result = flywheel.train_challenger(factory.plane, factory.registry, context.partition_key, synthetic_validation, list(blind_spots.blind_spots))
    rows = [dict(model=name, **{k: scores.get(k) for k in ("auc", "bs_auc", "f1", "bs_f1")}) for name, scores in
            (("real_only", result.real_only), ("with_synthetic", result.with_synthetic)) if scores]
    return dg.Output(result, metadata={"version": result.version, "uses_synthetic": result.uses_synthetic,
                                       "ablation": _md(plain(rows)), "mlflow_run": dg.MetadataValue.url(factory.run_url(result.run_id))})


@dg.asset(
    group_name=LOOP, partitions_def=batches,
    check_specs=[dg.AssetCheckSpec("promotion_gate", asset="evaluation", blocking=True,
                                   description="The promotion gate on real held-out rows: overall ROC AUC within the tolerance and a blind-spot gain whose paired 95% interval is above zero. WARN when the champion is kept; ERROR (blocking) when the holdout cannot judge.")],
    description="Champion vs challenger on real data only: the holdout of the newest labelled batch judges the gate (paired bootstrap); the batch itself is the backtest.",
)
def evaluation(context: dg.AssetExecutionContext, factory: FactoryResource, challenger: flywheel.Challenger, blind_spots: SliceSearch):
    result = flywheel.evaluate(factory.plane, factory.registry, context.partition_key, challenger.version, list(blind_spots.blind_spots))
    rows = [dict(set=s, **{k: asdict(m)[k] for k in ("model", "rows", "auc", "auc_low", "auc_high", "bs_auc", "pr_auc", "f1", "bs_f1", "brier")}) for s, m in
            (("gate", result.gate_champion), ("gate", result.gate_challenger), ("backtest", result.backtest_champion), ("backtest", result.backtest_challenger)) if m]
    per_spot = [dict(blind_spot=a.predicate, metric=a.metric, rows=a.rows, champion_auc=a.auc, challenger_auc=b.auc,
                     challenger_auc_low=b.auc_low, challenger_auc_high=b.auc_high)
                for a, b in zip(result.gate_champion.spots, result.gate_challenger.spots)]
    meta = {"scores": _md(plain(rows)), **{k: v for k, v in plain(asdict(result.comparison)).items() if v is not None}}
    if per_spot:
        meta["per_blind_spot"] = _md(plain(per_spot))
    for name, m in (("champion", result.backtest_champion), ("challenger", result.backtest_challenger)):
        if m is not None:
            meta.update({f"backtest_{name}_auc": plain(m.auc) or 0.0, f"backtest_{name}_bs_f1": plain(m.bs_f1) or 0.0})
    promote, reason = flywheel.gate_decision(factory.plane.spec, result)
    undefined = result.comparison.auc_diff is None
    yield dg.Output(result, metadata=meta)
    yield dg.AssetCheckResult(check_name="promotion_gate", passed=promote, metadata={"reason": reason},
                              severity=dg.AssetCheckSeverity.ERROR if undefined else dg.AssetCheckSeverity.WARN)


@dg.asset(group_name=LOOP, partitions_def=batches,
          description="What a careful team gets without the factory, on the same real rows: frozen first model, real-only retrain, recency-weighted retrain, SMOTE-NC, untargeted synthetic rows.")
def baselines(context: dg.AssetExecutionContext, factory: FactoryResource, synthetic_validation: str, blind_spots: SliceSearch,
              challenger: flywheel.Challenger) -> dg.Output[dict]:
    offered = len(factory.plane.storage.read_parquet(synthetic_validation))
    scores = flywheel.run_baselines(factory.plane, factory.registry, context.partition_key, list(blind_spots.blind_spots), offered,
                                    cycle_version=challenger.version)
    rows = [dict(baseline=name, set=kind, **{k: (s[kind] or {}).get(k) for k in ("auc", "bs_auc", "f1", "bs_f1")})
            for name, s in scores.items() for kind in ("gate", "backtest") if s[kind]]
    return dg.Output(scores, metadata={"baselines": _md(plain(rows)), "untargeted_rows": offered})


@dg.asset(group_name=LOOP, partitions_def=batches, deps=[baselines],
          description="Moves the MLflow alias `champion` to the challenger only if it passed the promotion gate; records the decision in the ledger.")
def promotion(context: dg.AssetExecutionContext, factory: FactoryResource, evaluation: flywheel.Evaluation) -> dg.Output[dict]:
    promoted, reason = flywheel.promote_if_better(factory.plane, factory.registry, context.partition_key, evaluation)
    context.log.info(reason)
    return dg.Output({"promoted": promoted, "reason": reason}, metadata={
        "promoted": promoted, "reason": reason, "champion_version": factory.registry.version_of("champion")})


@dg.asset(group_name=LOOP, partitions_def=batches,
          description="One HTML page per cycle (reports/flywheel/<batch>.html) plotting every cycle so far: overall and blind-spot ROC AUC of champion, challenger and baselines, drift share, synthetic share, promotions.")
def flywheel_report(context: dg.AssetExecutionContext, factory: FactoryResource, drift_report: DriftReport, challenger: flywheel.Challenger,
                    evaluation: flywheel.Evaluation, baselines: dict, promotion: dict) -> dg.MaterializeResult:
    batch_id, plane = context.partition_key, factory.plane
    scores = {"champion (holdout)": evaluation.gate_champion, "challenger (holdout)": evaluation.gate_challenger,
              "champion (backtest)": evaluation.backtest_champion, "challenger (backtest)": evaluation.backtest_challenger}
    scores.update({f"{name} ({'holdout' if kind == 'gate' else kind})": s.get(kind) for name, s in baselines.items() for kind in ("gate", "backtest")})
    used = challenger.synthetic_rows if challenger.uses_synthetic else 0
    record = report.cycle_record(batch_id, drift_report.drift_share, scores, used, len(flywheel.labelled_sets(plane, batch_id).train),
                                 promotion["promoted"], factory.registry.version_of("champion"))
    plane.write_cycle(record)
    cycles = plane.cycles(upto=batch_id)
    html = plane.write_report("flywheel", batch_id, "html", report.flywheel_html(cycles))
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(html), "cycles": len(cycles), "drift_share": record["drift_share"],
        "synthetic_share": record["synthetic_share"], "promoted": record["promoted"], "champion_version": record["champion_version"],
        "promotions_so_far": sum(bool(c["promoted"]) for c in cycles),
    })


reference_assets = [reference_snapshot, initial_champion]
ingest_assets = [landed_batch, validated_batch, drift_report]
regeneration_assets = [blind_spots, generation_plan, synthetic_batch, synthetic_validation, challenger, evaluation, baselines, promotion]
report_assets = [flywheel_report]
