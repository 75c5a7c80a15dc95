"""`factory`: replay a dataset, land and run a batch, retract or accept one, show the ledger, start the UI.

Every command takes --root (or FACTORY_ROOT) and --spec (or FACTORY_SPEC); the Dagster instance, the MLflow
store and the DuckDB file live under FACTORY_HOME (default: the root when it is local, else .factory), unless
DAGSTER_HOME and MLFLOW_TRACKING_URI name others.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

from factory.cli.common import QUIET, configure, factory_resource, output_to
from factory.cli.replay import cmd_replay
from factory.core.base.errors import FactoryError
from factory.core.base.spec import PERIODS


def cmd_spec_init(args: argparse.Namespace) -> int:
    """Draft a spec from the data (factory.core.draft): to standard output, or to --out."""
    from factory.core.draft.spec_init import draft_spec

    time = tuple(c.strip() for c in args.time.split(",")) if args.time else ()
    how = dict(period=args.period, batch_rows=args.batch_rows, start_year=args.start_year, out=args.out)
    draft = draft_spec(args.data, args.target, time=time, **how)
    if args.out is None:
        sys.stdout.write(draft.text)
    else:
        Path(args.out).write_text(draft.text)
        print(f"draft spec written to {args.out}: review its comments, then `factory replay --spec {args.out}`")
    return 0


def cmd_land(args: argparse.Namespace) -> int:
    home = configure(args)
    path = Path(args.file)
    fmt = "parquet" if path.suffix == ".parquet" else "csv"
    landing = factory_resource(args, home).plane.land(args.batch_id, path.read_bytes(), fmt)
    verb = "landed" if landing.created else "already landed with the same content (no-op)"
    print(f"batch {landing.batch_id} {verb}: {landing.key} sha256 {landing.sha256[:12]}")
    if landing.unreadable:  # the bytes are kept as they came; the gate will quarantine them (factory run)
        print(f"  but it is no table the spec reads: {landing.unreadable}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    home = configure(args)
    warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")
    import dagster as dg

    from factory.definitions import defs
    from factory.defs.runner import resolve, run_batch

    plane = factory_resource(args, home).plane
    job = defs.resolve_job_def("ingest_job" if args.ingest_only else "flywheel_job")
    with output_to(home / "logs" / "run.log"):  # the run's own log is in the Dagster UI too
        run = run_batch(dg.DagsterInstance.get(), job, plane, resolve(plane, args.batch_id), QUIET)
    print(("factory: " if not run.success else "") + run.summary, file=sys.stderr if not run.success else sys.stdout)
    return 0 if run.success else 1


def cmd_decide(args: argparse.Namespace) -> int:
    """`retract` (or `retract --undo`) and `accept`: an operator's decision, recorded beside the batch."""
    plane = factory_resource(args, configure(args)).plane
    if args.func_name == "accept":
        plane.accept(args.batch_id, args.reason)
        done = "accepted into"
    else:
        plane.retract(args.batch_id, args.reason, undo=args.undo)
        done = "put back into" if args.undo else "retracted from (bytes kept; a corrected file lands as a revision)"
    print(f"batch {args.batch_id} {done} every later training window and judge: {args.reason}")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    ledger = factory_resource(args, configure(args)).registry.ledger()
    print(ledger.to_string(index=False) if len(ledger) else "no promotion yet")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    registry = factory_resource(args, configure(args)).registry
    previous = registry.version_of("champion")
    registry.rollback(args.version, args.reason)
    print(f"champion moved back from version {previous} to {args.version}: {args.reason}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    configure(args)
    cmd = [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1"]
    cmd += ["-p", str(args.port)]
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

    def common(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
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
        return sp

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

    spec = sub.add_parser("spec", help="work with dataset specs: `factory spec init` drafts one from the data")
    spec_sub = spec.add_subparsers(dest="spec_command", required=True)
    init = spec_sub.add_parser("init", help="draft a spec from a data file, each suggestion saying why")
    init.add_argument("data", help="the data file: CSV (gzipped or not; separator read from the header) or parquet")
    init.add_argument("--target", required=True, help="the column to predict (two values: yes/no, 1/0, ...)")
    init.add_argument("--time", help="a timestamp column; a month column (with --start-year); or YEAR,MONTH[,DAY]")
    init.add_argument("--period", choices=PERIODS, help="batch period with --time (default month)")
    init.add_argument("--batch-rows", type=int, help="no clock: batches of this many rows in file order")
    init.add_argument("--start-year", type=int, help="with a month column and no year: the year of the first row")
    init.add_argument("--out", help="write the spec here (its source path relative to it); default: standard output")
    init.set_defaults(func=cmd_spec_init)

    land = common(sub.add_parser("land", help="land a batch file (csv in the spec's format, or parquet) in landing/"))
    land.add_argument("batch_id", help="the batch id, e.g. 2017-08")
    land.add_argument("file", help="path of the batch file")
    land.set_defaults(func=cmd_land)

    run = common(sub.add_parser("run", help="run one landed batch: the ingest gate, then the cycle when it passes"))
    run.add_argument("batch_id", help="a landed batch id (a period means its newest revision)")
    run.add_argument("--ingest-only", action="store_true", help="the ingest gate and drift only, no cycle")
    run.set_defaults(func=cmd_run)
    for name, what in (
        ("retract", "take a batch out of every later training window and judge (--undo: put it back)"),
        ("accept", "let a batch the gate held (values that may poison training) into training"),
    ):
        sp = common(sub.add_parser(name, help=what))
        sp.add_argument("batch_id", help="a landed batch id")
        sp.add_argument("--reason", required=True, help="why: recorded beside the batch")
        sp.add_argument("--undo", action="store_true", help=argparse.SUPPRESS if name == "accept" else "put it back")
        sp.set_defaults(func=cmd_decide, func_name=name)

    ledger = common(sub.add_parser("ledger", help="print the promotion ledger: which version was champion, when, why"))
    ledger.set_defaults(func=cmd_ledger)

    rollback = common(sub.add_parser("rollback", help="point `champion` back at an earlier champion, with a reason"))
    rollback.add_argument("version", help="a model version that was champion before (see `factory ledger`)")
    rollback.add_argument("--reason", required=True, help="why: recorded in the ledger")
    rollback.set_defaults(func=cmd_rollback)

    ui = common(sub.add_parser("ui", help="start the Dagster UI (dagster dev) over the root on 127.0.0.1"))
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
