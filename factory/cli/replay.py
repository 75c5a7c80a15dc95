"""`factory replay`: land one batch per cycle and run the loop through a real Dagster
instance, printing one row per cycle and writing summary.json."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import asdict, replace

from factory.cli.common import QUIET, configure, factory_resource, output_to

RUN_FAILED = "the run failed: see its log in the Dagster UI (make ui)"  # a cycle's note (benchmarks count them)


def _cell(value) -> str:
    return "-" if value is None else str(value)


COLUMNS = [
    ("batch", 8),
    ("rows", 6),
    ("drift", 6),
    ("spots", 5),
    ("synth", 6),
    ("champ_auc", 9),
    ("chall_auc", 9),
    ("champ_bsf1", 10),
    ("chall_bsf1", 10),
    ("synth_used", 10),
    ("promoted", 8),
    ("seconds", 7),
]


def _print_row(values: list[str]) -> None:
    print("  ".join(str(v).rjust(w) for v, (_, w) in zip(values, COLUMNS)), flush=True)


def cmd_replay(args: argparse.Namespace) -> int:
    home = configure(args)
    import dagster as dg

    if not args.verbose:  # preview status of partitioned asset checks (drift_check): known, and not ours to fix
        warnings.filterwarnings(
            "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
        )
    from factory.core.base.dataset import BATCH, load_dataset
    from factory.core.base.plane import reference_from_source
    from factory.definitions import defs
    from factory.defs.partitions import batches

    factory = factory_resource(args, home)
    spec, plane = factory.spec, factory.plane
    instance = dg.DagsterInstance.get()
    log = None if args.verbose else home / "logs" / "replay.log"
    print(f"factory replay: dataset '{spec.name}', root {plane.storage.uri('')}, state {home}", flush=True)
    dataset = load_dataset(spec)
    _, later = reference_from_source(spec, dataset)
    if not plane.has_reference() or factory.registry.version_of("champion") is None:
        print("bootstrap: reference snapshot and first champion ...", flush=True)
        with output_to(log):
            result = defs.resolve_job_def("bootstrap_job").execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET
            )
        if not result.success:
            print("bootstrap failed: see the Dagster run log (make ui)", file=sys.stderr)
            return 1
    cycles = later[: args.cycles]
    _print_row([name for name, _ in COLUMNS])
    rows = []
    job = defs.resolve_job_def("flywheel_job")
    for batch_id in cycles:
        start = time.perf_counter()
        landing = plane.land_frame(batch_id, dataset[dataset[BATCH] == batch_id].drop(columns=[BATCH]))
        instance.add_dynamic_partitions(batches.name, [batch_id])
        with output_to(log):
            result = job.execute_in_process(
                instance=instance,
                partition_key=batch_id,
                raise_on_error=False,
                tags={"factory/trigger": "replay"},
                run_config=QUIET,
            )
        row, cells = _cycle_row(result, batch_id, time.perf_counter() - start, landing.created, plane)
        row = replace(row, steps=_step_seconds(instance, result.run_id))
        rows.append(row)
        _print_row(cells)
        if row.note:
            print(f"  note: {row.note}", flush=True)
        if row.synthetic_note:
            print(f"  synthetic: {row.synthetic_note}", flush=True)
    if rows and not args.no_warehouse:
        print("warehouse: dbt build over every batch ...", flush=True)
        with output_to(log):
            built = defs.resolve_job_def("warehouse_job").execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET
            )
        print(f"warehouse: {_warehouse_line(built)}", flush=True)
    summary = {"spec": spec.name, "cycles": [asdict(r) for r in rows]}
    uri = plane.storage.write_json("summary.json", summary)
    print(f"summary written to {uri}" + (f"; run output in {log}" if log else ""), flush=True)
    return 0


def _warehouse_line(result) -> str:
    """One line for the dbt build: models built, data tests passed and failed."""
    if not result.success:
        return "dbt build failed: see the warehouse_job run in the Dagster UI"
    checks = [e.passed for e in result.get_asset_check_evaluations()]
    models = len(result.get_asset_materialization_events())
    return f"built {models} models; dbt tests: {sum(checks)} passed, {len(checks) - sum(checks)} failed"


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """How long each step of a run took, from Dagster's own event log."""
    stats = instance.get_run_step_stats(run_id)
    return {s.step_key: round(s.end_time - s.start_time, 2) for s in stats if s.start_time and s.end_time}


def _synthetic_note(plane, batch_id: str, plan, chall) -> str:
    """Why a cycle's challenger used no synthetic rows: not planned, rejected by the gate
    (which check, value and limit), or not kept (the ablation's evidence)."""
    if chall is None or chall.uses_synthetic:
        return ""
    if plan is not None and not plan.requests:
        return f"not planned: {plan.reason}"
    if not chall.synthetic_rows:
        failures = plane.read_report_json("synthetic_validation", batch_id).get("failures", [])
        return f"rejected by the synthetic gate: {failures[0]}" if failures else "no rows were accepted"
    return f"not kept: {chall.synthetic_reason}"


def _cycle_row(result, batch_id: str, seconds: float, created: bool, plane):
    """What one flywheel run produced: the summary's row and the printed cells, each number
    rounded to what its interval justifies."""
    from factory.core.base.rounding import SECONDS, rounded, rounded_row
    from factory.core.base.types import CycleRow

    def value(node: str):
        try:
            return result.output_for_node(node)
        except Exception:  # the step did not run (e.g. the batch was quarantined)
            return None

    validation, drift, search = value("validated_batch"), value("drift_report"), value("blind_spots")
    chall, evaluation, promotion = value("challenger"), value("evaluation"), value("promotion")
    note = "" if created else "batch already landed (same content): re-ran the loop"
    gate = {e.check_name: e for e in result.get_asset_check_evaluations()}.get("ingest_gate")
    if gate is not None and not gate.passed:  # a quarantined batch is not materialised: its check says why
        note = f"quarantined: {gate.metadata['reason'].value}"
    elif not result.success:
        note = RUN_FAILED
    back_champ = evaluation.backtest_champion if evaluation else None
    back_chall = evaluation.backtest_challenger if evaluation else None
    row = CycleRow(
        batch=batch_id,
        rows=validation.rows if validation else 0,
        drift_share=drift.drift_share if drift else 0.0,
        blind_spots=len(search.blind_spots) if search else 0,
        synthetic_accepted=chall.synthetic_rows if chall else 0,
        champion_auc=back_champ.auc if back_champ else None,
        challenger_auc=back_chall.auc if back_chall else None,
        champion_bs_f1=back_champ.bs_f1 if back_champ else None,
        challenger_bs_f1=back_chall.bs_f1 if back_chall else None,
        promoted=bool(promotion and promotion["promoted"]),
        synthetic_used=bool(chall and chall.uses_synthetic),
        seconds=round(seconds, 1),
        note=note,
        synthetic_note=_synthetic_note(plane, batch_id, value("generation_plan"), chall),
        recipe=chall.recipe if chall else "",
        policy=promotion.get("policy", "") if promotion else "",
    )
    champ, chall_scores = (rounded_row(asdict(m)) if m else {} for m in (back_champ, back_chall))
    cells = [
        row.batch,
        row.rows,
        rounded(row.drift_share),
        row.blind_spots,
        row.synthetic_accepted,
        champ.get("auc"),
        chall_scores.get("auc"),
        champ.get("bs_f1"),
        chall_scores.get("bs_f1"),
        "yes" if row.synthetic_used else "no",
        "yes" if row.promoted else "no",
        rounded(seconds, SECONDS),
    ]
    return row, [_cell(c) for c in cells]
