"""`factory`: replay a dataset through the loop, land a batch, show the ledger, start the UI.

Every command takes --root (or FACTORY_ROOT) and --spec (or FACTORY_SPEC); the
Dagster instance, the MLflow store and the DuckDB file live under FACTORY_HOME
(default: the root when it is local, else .factory), unless DAGSTER_HOME and
MLFLOW_TRACKING_URI name others.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

from factory.core.base.errors import FactoryError

DAGSTER_YAML = """telemetry:
  enabled: false
nux:
  enabled: false
# One loop at a time: a queued run that needs the pool `champion` (or `warehouse`) waits until
# no run holding it is in progress (factory/defs/assets/tables.py).
concurrency:
  pools:
    granularity: run
    default_limit: 1
"""


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the full log is in the Dagster UI


def _configure(args: argparse.Namespace) -> Path:
    """Export the configuration before factory.definitions is imported, and prepare
    the local Dagster instance. Returns FACTORY_HOME."""
    os.environ["FACTORY_ROOT"] = args.root
    os.environ["FACTORY_SPEC"] = str(Path(args.spec).resolve())
    from factory.defs.resources import default_home

    home = Path(default_home(args.root)).resolve()
    os.environ["FACTORY_HOME"] = str(home)
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or home / "dagster").resolve()  # a user's DAGSTER_HOME wins
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():  # never overwrite an instance someone configured (PostgreSQL, a run queue)
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return home


def _factory(args: argparse.Namespace, home: Path):
    """The resource the replayed jobs get from factory.definitions, configured from the arguments."""
    from factory.defs.resources import FactoryResource

    return FactoryResource(root=args.root, home=str(home), spec_path=str(Path(args.spec).resolve()))


@contextmanager
def _output_to(log: Path | None) -> Iterator[None]:
    """Everything a run prints (dbt's per-node lines, MLflow's registry notices, Dagster's
    console) goes to `log` instead of the terminal; Dagster's compute logs keep their copy.
    File descriptors, not sys.stdout: dbt is a subprocess and Dagster captures at that level."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    streams = (sys.stdout, sys.stderr)
    saved = [os.dup(s.fileno()) for s in streams]
    with log.open("a") as out:
        for stream in streams:
            stream.flush()
            os.dup2(out.fileno(), stream.fileno())
        try:
            yield
        finally:
            for stream, copy in zip(streams, saved):
                stream.flush()
                os.dup2(copy, stream.fileno())
                os.close(copy)


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
    home = _configure(args)
    import dagster as dg

    if not args.verbose:  # preview status of partitioned asset checks (drift_check): known, and not ours to fix
        warnings.filterwarnings(
            "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
        )
    from factory.core.base.dataset import BATCH, load_dataset
    from factory.core.base.plane import reference_from_source
    from factory.definitions import defs
    from factory.defs.partitions import batches

    factory = _factory(args, home)
    spec, plane = factory.spec, factory.plane
    instance = dg.DagsterInstance.get()
    log = None if args.verbose else home / "logs" / "replay.log"
    print(f"factory replay: dataset '{spec.name}', root {plane.storage.uri('')}, state {home}", flush=True)
    dataset = load_dataset(spec)
    _, later = reference_from_source(spec, dataset)
    if not plane.has_reference() or factory.registry.version_of("champion") is None:
        print("bootstrap: reference snapshot and first champion ...", flush=True)
        with _output_to(log):
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
        with _output_to(log):
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
        with _output_to(log):
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
    if validation is not None and not validation.passed:
        note = f"quarantined: {validation.failures[0]}"
    elif not result.success:
        note = "the run failed: see its log in the Dagster UI (make ui)"
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


def cmd_land(args: argparse.Namespace) -> int:
    home = _configure(args)
    path = Path(args.file)
    fmt = "parquet" if path.suffix == ".parquet" else "csv"
    landing = _factory(args, home).plane.land(args.batch_id, path.read_bytes(), fmt)
    verb = "landed" if landing.created else "already landed with the same content (no-op)"
    print(f"batch {args.batch_id} {verb}: {landing.key} sha256 {landing.sha256[:12]}")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    ledger = _factory(args, _configure(args)).registry.ledger()
    print(ledger.to_string(index=False) if len(ledger) else "no promotion yet")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    registry = _factory(args, _configure(args)).registry
    previous = registry.version_of("champion")
    registry.rollback(args.version, args.reason)
    print(f"champion moved back from version {previous} to {args.version}: {args.reason}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    _configure(args)
    cmd = [
        str(Path(sys.executable).parent / "dagster"),
        "dev",
        "-w",
        "workspace.yaml",
        "-h",
        "127.0.0.1",
        "-p",
        str(args.port),
    ]
    print(f"Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C to stop)", flush=True)
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        os.killpg(proc.pid, signal.SIGTERM)
        return proc.wait()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="factory", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--root",
            default=os.environ.get("FACTORY_ROOT", ".factory"),
            help="storage root: a local folder or s3://bucket/prefix (env FACTORY_ROOT; default .factory)",
        )
        sp.add_argument(
            "--spec",
            default=os.environ.get("FACTORY_SPEC", "specs/hotel.yaml"),
            help="dataset spec YAML (env FACTORY_SPEC; default specs/hotel.yaml)",
        )

    r = sub.add_parser("replay", help="replay a dataset: reference period, then one batch per cycle through Dagster")
    common(r)
    r.add_argument("--cycles", type=int, default=3, help="number of batches to land and run (default 3)")
    r.add_argument("--no-warehouse", action="store_true", help="skip the dbt warehouse build after the cycles")
    r.add_argument(
        "--verbose",
        action="store_true",
        help="print what the runs print (dbt's per-node lines, MLflow's notices, Dagster's warnings) instead of "
        "sending it to logs/replay.log under FACTORY_HOME",
    )
    r.set_defaults(func=cmd_replay)

    land = sub.add_parser("land", help="land a batch file (csv in the spec's format, or parquet) under landing/")
    common(land)
    land.add_argument("batch_id", help="the batch id, e.g. 2017-08")
    land.add_argument("file", help="path of the batch file")
    land.set_defaults(func=cmd_land)

    ledger = sub.add_parser("ledger", help="print the promotion ledger: which version was champion, when and why")
    common(ledger)
    ledger.set_defaults(func=cmd_ledger)

    rollback = sub.add_parser(
        "rollback", help="point the `champion` alias back at an earlier champion, with a recorded reason"
    )
    common(rollback)
    rollback.add_argument("version", help="a model version that was champion before (see `factory ledger`)")
    rollback.add_argument("--reason", required=True, help="why: recorded in the ledger")
    rollback.set_defaults(func=cmd_rollback)

    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) over the root on 127.0.0.1")
    common(ui)
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except FactoryError as exc:
        print(f"factory: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
