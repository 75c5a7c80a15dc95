"""What the reliability benchmark's cases and faults share: a case's result, a bootstrapped
root through Dagster, the ingest job bound to it, and a real S3 API (moto_server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from factory.core.base.plane import DataPlane
from factory.defs.assets import ingest_assets, reference_assets, regeneration_assets, report_assets
from factory.defs.io import StorageIOManager
from factory.defs.jobs import ingest_job
from factory.defs.resources import FactoryResource, MLflowResource

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Result:
    name: str
    family: str
    expect: str
    got: str
    verdict: str  # ok, or what went wrong (crash, silent_accept, lost_bytes, bad_alias_move, ...)
    note: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        note = self.note.replace("\n", " ")[:110]
        got = self.got if len(self.got) <= 12 else self.got[:11] + "~"
        return f"{self.family:8} {self.name:34} expect {self.expect:8} got {got:12} {self.verdict:14} {note}"


@dataclass(frozen=True)
class Context:
    """A bootstrapped root the faults act on."""

    factory: FactoryResource
    instance: dg.DagsterInstance
    rows: dict[str, pd.DataFrame]  # clean rows of the later batches
    free: list[str]  # later batch ids nothing has landed under yet


def resources_of(factory: FactoryResource) -> dict:
    return {
        "factory": factory,
        "mlflow": MLflowResource(factory=factory),
        "io_manager": StorageIOManager(root=factory.root),
    }


def ingest_job_for(factory: FactoryResource) -> dg.JobDefinition:
    assets = reference_assets + ingest_assets + regeneration_assets + report_assets
    return dg.Definitions(assets=assets, jobs=[ingest_job], resources=resources_of(factory)).resolve_job_def(
        "ingest_job"
    )


def bootstrap(factory: FactoryResource, instance: dg.DagsterInstance) -> DataPlane:
    """The reference snapshot and the first champion, through Dagster."""
    if not factory.plane.has_reference():
        result = dg.materialize(reference_assets, resources=resources_of(factory), instance=instance)
        assert result.success, "bootstrap failed"
    return factory.plane


@contextmanager
def moto(wanted: bool) -> Iterator[str]:
    """A real S3 API (moto_server) and a bucket, or nothing."""
    if not wanted:
        yield ""
        return
    proc, endpoint = start_moto()
    try:
        yield "s3://reliability"
    finally:
        proc.kill()
        proc.wait()


def start_moto(port: int | None = None) -> tuple[subprocess.Popen, str]:
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1"
    )
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}).mkdir("reliability")
    return proc, endpoint
