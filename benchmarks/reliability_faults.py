"""The injected faults of benchmarks/reliability.py, each done for real on a bootstrapped root
(a killed process, a file size limit standing in for a full disk, a locked SQLite file, two
processes promoting at once); S3's (stopped, throttled, failing) are in reliability_s3.py."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
from reliability_setup import BIN, Context, Result

from factory.core.base.errors import RegistryUnavailable
from factory.core.base.storage import Storage
from factory.core.gate.synthetic import gate_synthetic
from factory.core.registry.mlflow_registry import Registry
from factory.defs.automation import drift_sensor, landing_sensor, regeneration_schedule
from factory.defs.partitions import batches


def _registry(ctx: Context) -> Registry:
    return Registry.at(ctx.factory.home, ctx.factory.plane)


def _result(name: str, expect: str, ok: bool, got: str, bad: str, note: str) -> Result:
    return Result(name, "fault", expect, got, "ok" if ok else bad, note)


# -- MLflow: "cannot read" is never "no champion" ------------------------------------------------------
def mlflow_locked(ctx: Context) -> Result:
    registry = _registry(ctx)
    db = registry.tracking_uri.removeprefix("sqlite:///")
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        got = f"version {registry.version_of('champion')}"
    except RegistryUnavailable as exc:
        got = f"raised: {exc}"
    finally:
        holder.rollback()
        holder.close()
    return _result("mlflow_store_locked", "raise", got.startswith("raised"), got.split(":")[0], "bad_alias_move", got)


def mlflow_unreachable(ctx: Context) -> Result:
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = dataclasses.replace(_registry(ctx), tracking_uri=f"http://127.0.0.1:{port}")
    try:
        got = f"version {down.version_of('champion')}"
    except RegistryUnavailable as exc:
        got = f"raised: {exc}"
    return _result(
        "mlflow_server_unreachable", "raise", got.startswith("raised"), got.split(":")[0], "bad_alias_move", got
    )


def mlflow_store_missing(ctx: Context) -> Result:
    other = Path(tempfile.mkdtemp()) / "empty.db"
    lost = dataclasses.replace(_registry(ctx), tracking_uri=f"sqlite:///{other}")
    try:
        got = f"version {lost.version_of('champion')}"
    except RegistryUnavailable as exc:
        got = f"raised: {exc}"
    return _result("mlflow_store_missing", "raise", got.startswith("raised"), got.split(":")[0], "bad_alias_move", got)


# -- promotions -----------------------------------------------------------------------------------------
def _new_versions(ctx: Context, n: int) -> list[str]:
    registry = _registry(ctx)
    model = registry.load("champion")
    rows = ctx.rows[ctx.free[0]][list(ctx.factory.spec.features)].head(200)
    return [registry.log_model_run(model, f"racer-{i}", {}, {}, {}, rows)[1] for i in range(n)]


_RACE = """
import sys
from factory.core.base.errors import RegistryError
from factory.defs.resources import FactoryResource
from factory.core.registry.mlflow_registry import Registry
f = FactoryResource(root=sys.argv[1], home=sys.argv[2], spec_path=sys.argv[3])
try:
    Registry.at(f.home, f.plane).promote(sys.argv[4], sys.argv[5], "racing")
    print("won")
except RegistryError as exc:
    print("lost:", exc)
"""


def promotion_race(ctx: Context) -> Result:
    registry = _registry(ctx)
    a, b = _new_versions(ctx, 2)
    before = len(registry.ledger())
    cycle = ctx.free[0]
    args = [ctx.factory.root, ctx.factory.home, ctx.factory.spec_path]
    procs = [
        subprocess.Popen([sys.executable, "-c", _RACE, *args, v, cycle], stdout=subprocess.PIPE, text=True)
        for v in (a, b)
    ]
    outs = [p.communicate(timeout=300)[0].strip().splitlines()[-1:] for p in procs]
    won = sum(o == ["won"] for o in outs)
    moves = registry.ledger().iloc[before:]
    champion = registry.version_of("champion")
    ok = won == 1 and len(moves) == 1 and str(moves["version"].iloc[0]) == champion
    got = f"{won} winner(s), {len(moves)} ledger row(s), champion {champion}"
    return _result("two_promotions_racing", "one", ok, got, "bad_alias_move", got)


def ledger_write_fails(ctx: Context) -> Result:
    """The ledger write fails with ENOSPC (injected: the plane's append raises): the alias move is undone."""
    registry = _registry(ctx)
    (version,) = _new_versions(ctx, 1)
    champion = registry.version_of("champion")

    def full(entry: dict) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    plane = dataclasses.replace(registry.plane)  # a copy: the patch stays on this registry
    object.__setattr__(plane, "append_ledger", full)
    registry = dataclasses.replace(registry, plane=plane)
    try:
        registry.promote(version, ctx.free[1], "must not stick")
        got = "promoted"
    except OSError as exc:
        got = f"failed: {exc.strerror}"
    after = _registry(ctx).version_of("champion")
    ok = got.startswith("failed") and after == champion
    return _result("ledger_write_fails", "undone", ok, f"{got}; champion {after}", "unrecorded_alias_move", got)


# -- a full disk: a file size limit in a child process ---------------------------------------------------
_FULL = """
import resource, signal, sys
import numpy as np, pandas as pd
from factory.core.base.storage import Storage
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
df = pd.DataFrame(np.random.default_rng(0).random((200_000, 8)))
df.columns = [str(c) for c in df.columns]
try:
    Storage(sys.argv[1]).write_parquet("validated/2099-01.parquet", df)
    print("written")
except Exception as exc:
    print("failed:", type(exc).__name__)
"""


def full_disk_parquet(ctx: Context) -> Result:
    root = Path(tempfile.mkdtemp())
    out = subprocess.run([sys.executable, "-c", _FULL, str(root)], capture_output=True, text=True, timeout=300)
    got = (out.stdout.strip().splitlines() or [out.stderr[-80:]])[-1]
    visible = Storage(str(root)).list("validated")
    ok = got.startswith("failed") and not visible
    return _result("full_disk_parquet_write", "fail", ok, got, "partial_file", f"{got}; visible {visible}")


_FULL_SQL = """
import resource, signal, sqlite3, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
con = sqlite3.connect(sys.argv[1])
size = con.execute("pragma page_count").fetchone()[0] * con.execute("pragma page_size").fetchone()[0]
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 64 * 1024, size + 64 * 1024))
try:
    with con:
        con.execute("create table filler (b blob)")
        con.execute("insert into filler values (zeroblob(10000000))")
    print("written")
except sqlite3.Error as exc:
    print("failed:", exc)
"""


def full_disk_sqlite(ctx: Context) -> Result:
    db = Path(_registry(ctx).tracking_uri.removeprefix("sqlite:///"))
    out = subprocess.run([sys.executable, "-c", _FULL_SQL, str(db)], capture_output=True, text=True, timeout=300)
    got = (out.stdout.strip().splitlines() or [out.stderr[-80:]])[-1]
    check = sqlite3.connect(db).execute("pragma integrity_check").fetchone()[0]
    champion = _registry(ctx).version_of("champion")
    ok = got.startswith("failed") and check == "ok" and champion is not None
    return _result("full_disk_sqlite_write", "fail", ok, got, "partial_file", f"{got}; integrity {check}")


# -- killed processes ------------------------------------------------------------------------------------
def sigkill_mid_run(ctx: Context) -> Result:
    """`factory run` killed mid-run: the next `factory run` marks it failed and redoes the batch, byte for byte."""
    batch = ctx.free[2]
    root, home = Path(ctx.factory.root), Path(ctx.factory.home)
    ctx.factory.plane.land(batch, ctx.rows[batch].to_csv(index=False).encode(), "csv")
    env = {**os.environ, "FACTORY_HOME": str(home)}
    cmd = [str(BIN / "factory"), "run", batch, "--root", str(root), "--spec", ctx.factory.spec_path, "--ingest-only"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    deadline = time.time() + 300
    while time.time() < deadline and not instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    ):
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    runs = instance.get_run_records()
    final = all(r.dagster_run.is_finished for r in runs)
    plane = ctx.factory.plane
    scratch = Storage(tempfile.mkdtemp())
    scratch.write_parquet("x.parquet", plane.normalise(plane.read_landed(batch), batch))
    same = (
        hashlib.sha256(scratch.read_bytes("x.parquet")).hexdigest()
        == hashlib.sha256(plane.storage.read_bytes(f"validated/{batch}.parquet")).hexdigest()
        if plane.storage.exists(f"validated/{batch}.parquet")
        else False
    )
    ok = again.returncode == 0 and final and same
    got = f"rerun rc {again.returncode}, {len(runs)} runs all final: {final}, byte-identical: {same}"
    return _result(
        "sigkill_mid_run",
        "recover",
        ok,
        got,
        "crash" if again.returncode else "partial_file",
        got + " " + again.stderr[-200:],
    )


def daemon_killed_between_partition_and_run(ctx: Context) -> Result:
    """The daemon added the partition, then died before the run: the next tick asks for it, once."""
    with dg.instance_for_test() as instance:
        batch = ctx.free[3]
        ctx.factory.plane.land(batch, ctx.rows[batch].to_csv(index=False).encode(), "csv")
        instance.add_dynamic_partitions(batches.name, [batch])
        tick = landing_sensor(dg.build_sensor_context(instance=instance, resources={"factory": ctx.factory}))
        keys = [r.run_key for r in tick.run_requests if r.partition_key == batch]
    ok = keys == [f"ingest-{batch}"]
    return _result(
        "daemon_killed_between_tick_stages",
        "asked once",
        ok,
        f"run keys {keys}",
        "duplicate_version",
        f"run keys {keys}",
    )


def sensor_and_schedule_same_batch(ctx: Context) -> Result:
    from dagster._core.test_utils import create_run_for_test

    with dg.instance_for_test() as instance:
        batch = max(ctx.factory.plane.validated_batches())
        schedule = regeneration_schedule(ctx.factory.plane.spec.period)(
            dg.build_schedule_context(instance=instance, resources={"factory": ctx.factory})
        )
        create_run_for_test(
            instance, job_name="regeneration_job", status=dg.DagsterRunStatus.STARTED, tags={"dagster/partition": batch}
        )
        instance.add_dynamic_partitions(batches.name, [batch])
        instance.report_runless_asset_event(
            dg.AssetMaterialization("drift_report", partition=batch, metadata={"drift_share": 1.0})
        )
        sensor = drift_sensor(dg.build_sensor_context(instance=instance, resources={"factory": ctx.factory}))
        again = regeneration_schedule(ctx.factory.plane.spec.period)(
            dg.build_schedule_context(instance=instance, resources={"factory": ctx.factory})
        )
    started = (
        int(isinstance(schedule, dg.RunRequest)) + len(sensor.run_requests) + int(isinstance(again, dg.RunRequest))
    )
    got = f"{started} regeneration(s) started"
    return _result("sensor_and_schedule_same_batch", "one", started == 1, got, "duplicate_version", got)


# -- synthetic batches ------------------------------------------------------------------------------------
def _synthetic(ctx: Context, name: str, make: Callable[[pd.DataFrame], pd.DataFrame], want_rows: int) -> Result:
    plane = ctx.factory.plane
    real = plane.reference().head(2000)
    try:
        accepted, outcome = gate_synthetic("2099-01", make(real), real, plane.spec, plane.profile(), [])
        got = f"{len(accepted)} row(s) accepted"
        ok = len(accepted) == want_rows
    except Exception as exc:
        got, ok = f"crash: {type(exc).__name__}: {exc}", False
    return _result(name, f"{want_rows} rows", ok, got, "silent_accept" if not got.startswith("crash") else "crash", got)


def synthetic_empty(ctx: Context) -> Result:
    return _synthetic(ctx, "synthetic_batch_empty", lambda real: real.head(0), 0)


def synthetic_wrong_columns(ctx: Context) -> Result:
    return _synthetic(ctx, "synthetic_batch_wrong_columns", lambda real: real.head(50).add_suffix("_x"), 0)


def synthetic_copies(ctx: Context) -> Result:
    return _synthetic(ctx, "synthetic_batch_copies_real_rows", lambda real: real.head(50).copy(), 0)


def crash_between_bytes_and_manifest(ctx: Context) -> Result:
    """Landing died after the bytes and before their record: the same bytes again are a no-op, the record rebuilt."""
    plane, batch = ctx.factory.plane, ctx.free[4]
    data = ctx.rows[batch].to_csv(index=False).encode()
    plane.land(batch, data, "csv")
    Path(ctx.factory.root, "landing", f"{batch}.json").unlink()
    again = plane.land(batch, data, "csv")
    ok = not again.created and plane.landing_manifest(batch)["sha256"] == hashlib.sha256(data).hexdigest()
    got = f"created again: {again.created}"
    return _result("crash_between_bytes_and_record", "no-op", ok, got, "duplicate_version", got)


FAULTS = [
    mlflow_locked,
    mlflow_unreachable,
    mlflow_store_missing,
    promotion_race,
    ledger_write_fails,
    full_disk_parquet,
    full_disk_sqlite,
    sigkill_mid_run,
    daemon_killed_between_partition_and_run,
    sensor_and_schedule_same_batch,
    synthetic_empty,
    synthetic_wrong_columns,
    synthetic_copies,
    crash_between_bytes_and_manifest,
]
