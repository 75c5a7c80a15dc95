"""Real servers for the deployment tests, each on a free port of 127.0.0.1 and stopped after:
PostgreSQL from Debian's packages (started as the `postgres` user, fsync off) and the MLflow
tracking server on it, with its artefacts on the moto S3 of factory_tests/conftest.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from factory_tests.conftest import free_port, wait_for_port

BIN = Path(sys.executable).parent
PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
DATABASES = ("dagster", "mlflow", "warehouse")  # as deployments/docker/postgres-init.sql creates them


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str = "postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def env(self, database: str = "warehouse") -> dict[str, str]:
        """libpq's standard variables, as the deployment sets them."""
        return dict(PGHOST="127.0.0.1", PGPORT=str(self.port), PGUSER=self.user, PGPASSWORD="", PGDATABASE=database)

    def rows(self, database: str, sql: str) -> list[tuple]:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=database)
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster; as root, its files and processes belong to `postgres`."""
    if not PG_BINS:
        pytest.skip("Debian's postgresql is not installed (`make test` installs it)")
    pg_bin = PG_BINS[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="factory-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    subprocess.run(
        [*as_postgres, pg_bin / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    pg_ctl = [*as_postgres, pg_bin / "pg_ctl", "-D", data]
    subprocess.run([*pg_ctl, "-o", options, "-l", folder / "log", "-w", "start"], check=True, capture_output=True)
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        for database in DATABASES:
            connection.cursor().execute(f"create database {database}")
        connection.close()
        yield Postgres(port)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def stop(proc: subprocess.Popen) -> None:
    """A server started in a session of its own, with every process it started."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass(frozen=True)
class MlflowServer:
    url: str
    artifacts: str  # s3://bucket/prefix the server writes artefacts under


def start_mlflow(postgres: Postgres, artifacts: str, log: Path) -> tuple[subprocess.Popen, MlflowServer]:
    """`mlflow server` as deployments/ runs it: PostgreSQL backend, artefacts proxied to S3."""
    port = free_port()
    env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"]}
    command = [
        BIN / "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        postgres.url("mlflow"),
        "--artifacts-destination",
        artifacts,
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, proc, "mlflow server", seconds=180)
        deadline = time.monotonic() + 60
        while urllib.request.urlopen(f"{url}/health", timeout=5).status != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server is not healthy")
            time.sleep(0.5)
    except Exception:
        stop(proc)
        raise RuntimeError(f"mlflow server did not start: {log.read_text()[-3000:]}") from None
    return proc, MlflowServer(url, artifacts)
