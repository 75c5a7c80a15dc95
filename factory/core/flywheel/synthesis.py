"""Cycle steps that make synthetic rows: plan them for the blind spots, generate them
with lineage, and gate them (row checks, then fidelity and privacy)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from factory.core.base.plane import DataPlane
from factory.core.base.types import (
    BlindSpot,
    ValidationOutcome,
    plain,
)
from factory.core.gate.synthetic import gate_synthetic
from factory.core.learn.judge import EvaluationSets, evaluation_sets
from factory.core.synth.choice import generate, generator_choice
from factory.core.synth.plan import GenerationPlan, plan_generation


@dataclass(frozen=True)
class SyntheticBatch:
    key: str
    rows: int
    requested: int
    failures: tuple[str, ...]
    plan: tuple[dict, ...]
    generator: dict = field(default_factory=dict)  # the generator used; for `auto`, the measured choice


def plan_synthesis(plane: DataPlane, batch_id: str, spots: list[BlindSpot], run_id: str) -> tuple[GenerationPlan, str]:
    """The generation plan for the blind spots, kept as plans/<batch>/<run>.json (never
    overwritten). Returns (plan, its uri)."""
    result = plan_generation(spots, len(evaluation_sets(plane, batch_id).train), plane.spec)
    return result, plane.write_plan(batch_id, run_id, plain(result.as_dict()))


def synthesize(plane: DataPlane, batch_id: str, plan: GenerationPlan, run_id: str) -> SyntheticBatch:
    """Rows for the plan's requests; the plan is kept beside them as lineage."""
    sets = evaluation_sets(plane, batch_id)
    rows, failures = generate(
        sets.synthesis, plan.requests, plane.spec, plane.profile(), cycle=batch_id, plane=plane
    )  # fitted generators cached
    choice = generator_choice(sets.synthesis, plane.spec, plane)  # cached by generate() above
    key = plane.write_synthetic(batch_id, run_id, rows, plain(plan.as_dict()), choice)
    planned = tuple(row for row in plan.table() if row["rows"] > 0)
    return SyntheticBatch(key, len(rows), plan.rows, tuple(failures), planned, choice)


@dataclass(frozen=True)
class GateResult:
    accepted_key: str
    outcome: ValidationOutcome
    structural: bool  # False: the batch broke the suite's structure (a generator bug), not just fidelity


def gate(plane: DataPlane, batch_id: str, synthetic: SyntheticBatch, spots: list[BlindSpot]) -> GateResult:
    """Row checks, then fidelity and privacy. Rows that fail are dropped; a batch that
    fails fidelity or privacy is rejected whole, and the cycle goes on real-only."""
    sets = evaluation_sets(plane, batch_id)
    rows = plane.storage.read_parquet(synthetic.key)
    accepted, outcome = gate_synthetic(batch_id, rows, sets.train, plane.spec, plane.profile(), spots)
    structural = outcome.passed
    if outcome.passed and len(accepted):  # fidelity and privacy of what the row checks accepted
        accepted, outcome = judge_fidelity(plane, batch_id, accepted, outcome, sets, spots)
    key = plane.accepted_key(synthetic.key)
    plane.storage.write_parquet(key, accepted)
    plane.write_report("synthetic_validation", batch_id, "json", asdict(outcome))
    return GateResult(key, outcome, structural)


def judge_fidelity(
    plane: DataPlane,
    batch_id: str,
    accepted: pd.DataFrame,
    outcome: ValidationOutcome,
    sets: EvaluationSets,
    spots: list[BlindSpot],
) -> tuple[pd.DataFrame, ValidationOutcome]:
    """Fidelity and privacy against the real rows of the same slices: the rows the
    generator was fitted on, and the privacy control it never saw (learn.judge); the page
    under reports/synthetic_validation/, the numbers under reports/synthetic_fidelity/.
    A breach rejects the whole batch (spec gate.blocking) or only warns."""
    from factory.core.gate.quality import evaluate_synthetic
    from factory.core.gate.quality_page import to_html

    spec = plane.spec
    report = evaluate_synthetic(batch_id, accepted, sets.synthesis, sets.control, spec, spots, seed=spec.synthesis.seed)
    # its own folder: the warehouse reads every reports/synthetic_validation/*.json as a gate outcome
    plane.write_report("synthetic_fidelity", batch_id, "json", asdict(report) | {"headline": report.headline()})
    uri = plane.write_report("synthetic_validation", batch_id, "html", to_html(report, spec))
    if report.passed or not spec.gate.blocking:
        return accepted, replace(outcome, report_uri=uri, warnings=outcome.warnings + report.warnings + report.failures)
    failures = tuple(f"batch {batch_id}: {f}" for f in report.failures)
    return accepted.iloc[:0], replace(
        outcome, passed=False, failures=outcome.failures + failures, rows_dropped=outcome.rows, report_uri=uri
    )


def fidelity_headline(plane: DataPlane, outcome: ValidationOutcome) -> dict:
    """The overall fidelity and privacy numbers of the gate's last evaluation (empty when
    the batch was not evaluated), as plain values for Dagster metadata."""
    if not outcome.report_uri:
        return {}
    return plane.read_report_json("synthetic_fidelity", outcome.batch_id)["headline"]
