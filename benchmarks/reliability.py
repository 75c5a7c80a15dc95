"""Reliability: every bad batch of benchmarks/reliability_cases.py landed and run through the
real ingest job (a real Dagster instance, MLflow store, local root and, without --quick,
moto_server S3), then injected faults (benchmarks/reliability_faults.py; S3 throttling and errors through a
faulty proxy in front of moto_server: benchmarks/reliability_s3.py).

    .venv/bin/python benchmarks/reliability.py [--quick]

--quick: every kind once (the hotel spec, CSV, local disk). Without it: both datasets, CSV
and parquet, local disk and S3, and every clean production batch (false rejects). Prints
one line per case, then a JSON line with the counts. --datasets, --formats and --stores run a
part of the matrix (the faults act on its first root, which must be local).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import dagster as dg
from reliability_cases import CASES, World, encode, sep_of
from reliability_faults import FAULTS
from reliability_s3 import S3_FAULTS
from reliability_setup import Context, Result, bootstrap, ingest_job_for, moto

from factory.core.base.dataset import BATCH, load_dataset
from factory.core.base.errors import FactoryError
from factory.defs.resources import FactoryResource
from factory.defs.runner import run_batch

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
BLOCKED = {"reject", "hold"}


def outcome_of(run) -> str:
    if run.gate_passed is None:
        return "crash"
    if not run.gate_passed:
        return "hold" if run.held else "reject"
    return "flag" if run.codes and run.codes != "none" else "pass"


def judge(expect: str, got: str) -> str:
    """ok, silent_accept (a bad batch reached training), false_reject, or mismatch (blocked another way)."""
    if got == "crash":
        return "crash"
    wanted = BLOCKED if expect == "blocked" else {expect}
    if got in wanted or (expect == "pass" and got == "flag"):
        return "ok"
    if got in ("pass", "flag") and (expect in BLOCKED or expect == "blocked"):
        return "silent_accept"
    if got in BLOCKED and expect in ("pass", "flag"):
        return "false_reject"
    if expect == "flag" and got == "pass":
        return "silent_accept"
    return "mismatch"


def batch_cases(
    spec_path: Path, fmt: str, formats: list[str], root: str, home: Path, clean_all: bool
) -> tuple[list[Result], Context]:
    """Every bad batch landed under one period (each quarantine lets the next land as a new
    revision; a batch that passed is retracted), then run through the ingest job."""
    factory = FactoryResource(root=root, home=str(home), spec_path=str(spec_path))
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    job = ingest_job_for(factory)
    plane = bootstrap(factory, instance)
    data = load_dataset(plane.spec)
    later = [b for b in sorted(data[BATCH].unique()) if b not in set(plane.reference()[BATCH])]
    rows = {b: data[data[BATCH] == b].drop(columns=[BATCH]).reset_index(drop=True) for b in later}
    older, before, current, after = later[0], later[1], later[2], later[3]
    world = World(
        spec=plane.spec,
        clean=rows[current],
        before=rows[before],
        after=rows[after],
        older=rows[older],
        max_rows=plane.max_batch_rows() or 10**9,
        reference=plane.reference(),
    )
    results = []
    free = later[-6:]  # left for the faults
    for batch_id in [before] + (later[3:-6] if clean_all else []):  # clean batches: no false rejects
        plane.land(batch_id, *encode(rows[batch_id], fmt, sep_of(plane.spec)))
        run = run_batch(instance, job, plane, batch_id, QUIET)
        results.append(
            Result(f"clean {batch_id}", "clean", "pass", outcome_of(run), judge("pass", outcome_of(run)), run.summary)
        )
    for case in CASES:
        if fmt not in case.formats and (fmt != formats[0] or set(case.formats) & set(formats)):
            continue  # a kind of one format runs in that format's pass (or the first pass, if not in the run)
        target = older if case.name == "out_of_order_batch_id" else current
        start = time.perf_counter()
        try:
            data_, fmt_ = case.build(world, fmt)
            landing = plane.land(target, data_, fmt_)
            run = run_batch(instance, job, plane, landing.batch_id, QUIET)
            got, note = outcome_of(run), run.summary
            verdict = judge(case.expect, got)
            if got in BLOCKED:
                kept = plane.storage.read_bytes(f"quarantine/{landing.batch_id}/{landing.key.split('/')[-1]}")
                if kept != data_:
                    verdict, note = "lost_bytes", f"quarantine/ does not hold the bytes as landed: {note}"
                elif landing.batch_id in plane.validated_batches():
                    verdict = "silent_accept"
            elif landing.batch_id in plane.validated_batches():
                plane.retract(landing.batch_id, "benchmark: make room for the next case")
        except FactoryError as exc:
            got, verdict, note = "refused", "ok" if case.expect in BLOCKED | {"blocked"} else "false_reject", str(exc)
        except Exception as exc:  # a crash is what the benchmark counts
            got, verdict, note = "crash", "crash", f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        results.append(Result(case.name, case.family, case.expect, got, verdict, note, time.perf_counter() - start))
    return results, Context(factory, instance, rows, free)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every kind once: hotel, CSV, local disk")
    parser.add_argument("--workdir", help="keep roots here (a second run reuses the bootstrapped roots)")
    parser.add_argument("--datasets", help="a subset of the matrix, e.g. bank (comma-separated)")
    parser.add_argument("--formats", help="e.g. parquet")
    parser.add_argument("--stores", help="e.g. s3")
    parser.add_argument("--no-faults", action="store_true", help="the bad batches only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    specs = (args.datasets or ("hotel" if args.quick else "hotel,bank")).split(",")
    formats = (args.formats or ("csv" if args.quick else "csv,parquet")).split(",")
    stores = (args.stores or ("local" if args.quick else "local,s3")).split(",")
    results: list[Result] = []
    contexts = []
    with tempfile.TemporaryDirectory(prefix="reliability-") as scratch:
        tmp = args.workdir or scratch
        for store in stores:
            with moto(store == "s3") as bucket:
                for name in specs:
                    for fmt in formats:
                        where = f"{bucket}/{name}-{fmt}" if bucket else str(Path(tmp) / f"{name}-{fmt}")
                        home = Path(tmp) / f"home-{store}-{name}-{fmt}"
                        print(f"# {name} / {fmt} / {store}", flush=True)
                        spec = REPO / "specs" / f"{name}.yaml"
                        found, ctx = batch_cases(spec, fmt, formats, where, home, not args.quick)
                        contexts.append(ctx)
                        for r in found:
                            results.append(r)
                            print(r.line(), flush=True)
        print("# faults (on the first root)", flush=True)
        for fault in [] if args.no_faults else FAULTS + S3_FAULTS:
            start = time.perf_counter()
            try:
                r = fault(contexts[0])
            except Exception as exc:  # a fault the factory did not survive is a crash
                traceback.print_exc(file=sys.stderr)
                r = Result(fault.__name__, "fault", "", "crash", "crash", f"{type(exc).__name__}: {exc}")
            r = dataclasses.replace(r, seconds=time.perf_counter() - start)
            results.append(r)
            print(r.line(), flush=True)
    verdicts = [r.verdict for r in results]
    counts = {
        "bad_batch_kinds": len({r.name for r in results if r.family in ("file", "schema", "values", "dataset")}),
        "fault_kinds": len({r.name for r in results if r.family == "fault"}),
        "cases": len(results),
        "crashes": verdicts.count("crash"),
        "hangs": verdicts.count("hang"),
        "silent_accepts": verdicts.count("silent_accept"),
        "false_rejects": verdicts.count("false_reject"),
        "mismatches": verdicts.count("mismatch"),
        "lost_bytes": verdicts.count("lost_bytes"),
        "partial_files": verdicts.count("partial_file"),
        "duplicate_versions": verdicts.count("duplicate_version"),
        "bad_alias_moves": verdicts.count("bad_alias_move"),
        "unrecorded_alias_moves": verdicts.count("unrecorded_alias_move"),
        "failed": verdicts.count("failed"),
    }
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
