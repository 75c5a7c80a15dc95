"""The production path, run for real on one machine: Dagster's instance (runs, event logs,
schedules) and the MLflow tracking server on PostgreSQL, the root and MLflow's artefacts on
S3 (moto), the code location as its own gRPC server, loop runs queued by a backfill and
launched by dagster-daemon under the `champion` pool limit, and the warehouse rebuilt on
PostgreSQL by its sensor. The instance is deployments/docker/dagster.yaml itself, with
Dagster's default run launcher (a process per run: there is no container engine here)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from factory.core.base.codec import loads
from factory.core.base.dataset import load_dataset
from factory.core.base.plane import DataPlane
from factory.core.base.spec import load_spec
from factory.defs.partitions import batches as batch_partitions
from factory.defs.resources import FactoryResource
from factory_tests.conftest import BUCKET, environment, free_port, wait_for_port
from factory_tests.defs.conftest import REPO, batch_frame, production_batches, write_small_spec
from factory_tests.deploy.conftest import BIN, MlflowServer, Postgres, start_mlflow, stop

pytestmark = pytest.mark.slow
PREFIX = "production"
MODEL = "factory-hotel"


@dataclass(frozen=True)
class Deployment:
    postgres: Postgres
    mlflow: MlflowServer
    instance: dg.DagsterInstance
    plane: DataPlane
    home: Path  # FACTORY_HOME: what the embedded defaults would have written to
    batches: list[str]
    replay: subprocess.CompletedProcess


def instance_yaml(dagster_home: Path) -> None:
    """deployments/docker/dagster.yaml, launching each run as a process, logs under this test's prefix."""
    config = yaml.safe_load((REPO / "deployments" / "docker" / "dagster.yaml").read_text())
    assert config.pop("run_launcher")["class"] == "DockerRunLauncher"
    config["compute_logs"]["config"].update(bucket=BUCKET, prefix=f"{PREFIX}/compute-logs")
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))


def run(command: list, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{command}: {out.stdout[-3000:]}{out.stderr[-3000:]}"
    return out


def wait_for_runs(instance: dg.DagsterInstance, last_batch: str, logs: list[Path], seconds: int = 1200) -> None:
    """Until both loop runs and the warehouse rebuild after the last promotion have finished."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        loops = instance.get_run_records(dg.RunsFilter(job_name="flywheel_job"))
        rebuilt = instance.get_run_records(dg.RunsFilter(job_name="warehouse_job", tags={"factory/batch": last_batch}))
        if len(loops) == 2 and rebuilt and all(r.dagster_run.is_finished for r in [*loops, *rebuilt]):
            return
        time.sleep(2)
    raise AssertionError("runs did not finish: " + "\n".join(p.read_text()[-2000:] for p in logs))


@pytest.fixture(scope="module")
def deployment(postgres, s3_endpoint, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("production")
    spec_path = write_small_spec(tmp, baselines={"enabled": False})
    dagster_home, home, port = tmp / "dagster", tmp / "home", free_port()
    instance_yaml(dagster_home)
    workspace = tmp / "workspace.yaml"  # deployments/docker/workspace.yaml, the code server on this machine
    workspace.write_text(
        (REPO / "deployments" / "docker" / "workspace.yaml")
        .read_text()
        .replace("host: factory_code", "host: 127.0.0.1")
        .replace("port: 4000", f"port: {port}")
    )
    mlflow_proc, server = None, None
    settings = dict(
        DAGSTER_HOME=str(dagster_home),
        FACTORY_ROOT=f"s3://{BUCKET}/{PREFIX}/root",
        FACTORY_HOME=str(home),
        FACTORY_SPEC=str(spec_path),
        DBT_TARGET="postgres",
        MLFLOW_REGISTRY_URI=None,
        **postgres.env("warehouse"),
    )
    procs = []
    try:
        mlflow_proc, server = start_mlflow(postgres, f"s3://{BUCKET}/{PREFIX}/mlflow", tmp / "mlflow.log")
        procs.append(mlflow_proc)
        with environment(**settings, MLFLOW_TRACKING_URI=server.url):
            env = dict(os.environ)
            code_log, daemon_log = tmp / "code-server.log", tmp / "daemon.log"
            code = subprocess.Popen(
                [BIN / "dagster", "api", "grpc", "--module-name", "factory.definitions", "--host", "127.0.0.1"]
                + ["--port", str(port)],
                cwd=REPO,
                env=env,
                stdout=code_log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            procs.append(code)
            # the first champion through the CLI, against the tracking server
            replay = run([BIN / "factory", "replay", "--cycles", "0"], env)
            # as the compose daemon does at start (deployments/docker/README.md says why)
            for pool in ("champion", "warehouse"):
                run([BIN / "dagster", "instance", "concurrency", "set", pool, "1"], env)
            wait_for_port(port, code, "the code server", seconds=300)
            daemon = subprocess.Popen(
                [BIN / "dagster-daemon", "run", "--workspace", workspace],
                cwd=REPO,
                env=env,
                stdout=daemon_log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            procs.append(daemon)
            instance = dg.DagsterInstance.from_config(str(dagster_home))
            factory = FactoryResource(root=settings["FACTORY_ROOT"], home=str(home), spec_path=str(spec_path))
            dataset = load_dataset(load_spec(spec_path))
            batches = production_batches(dataset)[:2]
            for batch_id in batches:
                factory.plane.land_frame(batch_id, batch_frame(dataset, batch_id))
            instance.add_dynamic_partitions(batch_partitions.name, batches)
            # through the workspace file, so the runs and the sensor name the location as the daemon does
            grpc = ["--workspace", str(workspace)]
            run([BIN / "dagster", "sensor", "start", "warehouse_sensor", *grpc], env)
            # both loop runs at once, as a backfill would start them
            run(
                [BIN / "dagster", "job", "backfill", "-j", "flywheel_job", "--partitions", ",".join(batches)]
                + ["--noprompt", *grpc],
                env,
            )
            wait_for_runs(instance, batches[-1], [daemon_log, code_log])
            yield Deployment(postgres, server, instance, factory.plane, home, batches, replay)
    finally:
        for proc in reversed(procs):
            stop(proc)


def test_one_loop_run_waits_for_the_other(deployment):
    records = sorted(
        deployment.instance.get_run_records(dg.RunsFilter(job_name="flywheel_job")), key=lambda r: r.start_time
    )
    assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2
    first, second = records
    assert second.create_timestamp.timestamp() < first.end_time, "both runs were queued while the first ran"
    assert second.start_time >= first.end_time, "the second started only once the first had finished"
    events = deployment.instance.all_logs(second.dagster_run.run_id)
    kinds = [e.dagster_event.event_type_value for e in events if e.dagster_event]
    assert kinds.index("PIPELINE_ENQUEUED") < kinds.index("PIPELINE_STARTING") < kinds.index("PIPELINE_START"), kinds


def test_the_alias_history_is_linear_and_every_move_is_in_the_ledger_once(deployment):
    ledger = deployment.plane.ledger()
    versions, previous = ledger["version"].astype(str).tolist(), ledger["previous"].astype(str).tolist()
    assert previous[0] == "" and previous[1:] == versions[:-1], ledger[["batch_id", "version", "previous"]]
    storage = deployment.plane.storage
    promoted = [b for b in deployment.batches if loads(storage.read_bytes(f"assets/promotion/{b}.json"))["promoted"]]
    assert ledger["batch_id"].tolist()[1:] == promoted, "one row per move, in the order the runs made them"
    assert len(set(ledger["time"] + ledger["version"].astype(str))) == len(ledger)
    champion = _mlflow(deployment, f"registered-models/alias?name={MODEL}&alias=champion")
    assert champion["model_version"]["version"] == versions[-1]


def _messages(deployment: Deployment, run_id: str) -> str:
    """The run's last log lines, to say why it failed."""
    return "\n".join(e.user_message[:1500] for e in deployment.instance.all_logs(run_id)[-25:])


def _mlflow(deployment: Deployment, path: str, body: dict | None = None) -> dict:
    """MLflow's REST API on the tracking server (GET, or POST with a JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{deployment.mlflow.url}/api/2.0/mlflow/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _objects(prefix: str) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}, use_listings_cache=False)
    return [path.split("/", 1)[1] for path in fs.find(f"{BUCKET}/{prefix}")]


def test_the_tracking_server_holds_the_runs_metrics_and_versions_and_s3_their_artefacts(deployment):
    experiment = _mlflow(deployment, f"experiments/get-by-name?experiment_name={MODEL}")["experiment"]
    runs = _mlflow(deployment, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    names = {r["info"]["run_name"]: r for r in runs}
    assert set(names) == {"initial-champion", *(f"challenger-{b}" for b in deployment.batches)}
    for batch_id in deployment.batches:
        metrics = {m["key"] for m in names[f"challenger-{batch_id}"]["data"]["metrics"]}
        assert {"gate.champion.auc", "gate.challenger.auc", "backtest.challenger.auc"} <= metrics, sorted(metrics)
    query = urllib.parse.quote(f"name='{MODEL}'")
    versions = _mlflow(deployment, f"model-versions/search?filter={query}")["model_versions"]
    assert sorted(int(v["version"]) for v in versions) == [1, 2, 3]
    artefacts = _objects(f"{PREFIX}/mlflow")  # proxied by the server into the bucket: nothing on local disk
    assert len([k for k in artefacts if k.endswith("/MLmodel")]) == len(versions), artefacts
    assert any(key.startswith(f"{PREFIX}/compute-logs/") for key in _objects(PREFIX)), "step logs on S3"


def test_replay_against_the_server_writes_nothing_to_the_embedded_store(deployment):
    assert "bootstrap" in deployment.replay.stdout, deployment.replay.stdout
    local = sorted(p.name for p in deployment.home.rglob("*")) if deployment.home.exists() else []
    assert not [name for name in local if name in ("mlflow.db", "mlartifacts", "mlruns")], local
    assert not (REPO / "mlflow.db").exists() and not (REPO / "mlruns").exists()


def test_dagster_keeps_runs_events_and_sensor_ticks_in_postgresql(deployment):
    rows = deployment.postgres.rows
    runs = dict(rows("dagster", "select pipeline_name, count(*) from runs group by pipeline_name"))
    assert runs["flywheel_job"] == 2 and runs["bootstrap_job"] == 1 and runs["warehouse_job"] >= 1, runs
    promotions = rows(
        "dagster",
        "select partition from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION' "
        "and asset_key = '[\"promotion\"]'",
    )
    assert sorted(p for (p,) in promotions) == deployment.batches
    ticks = rows("dagster", "select count(*) from job_ticks where selector_id is not null")
    assert ticks[0][0] >= 1, "the warehouse sensor's ticks are in the schedule storage"


def test_the_warehouse_is_rebuilt_on_postgresql_after_the_last_promotion(deployment):
    (rebuilt,) = deployment.instance.get_run_records(
        dg.RunsFilter(job_name="warehouse_job", tags={"factory/batch": deployment.batches[-1]}), limit=1
    )
    assert rebuilt.dagster_run.status == dg.DagsterRunStatus.SUCCESS, _messages(deployment, rebuilt.dagster_run.run_id)
    rows = deployment.postgres.rows
    performance = rows("warehouse", "select batch_id from analytics.model_performance order by batch_id")
    assert [b for (b,) in performance] == deployment.batches
    raw = rows("warehouse", "select count(*) from factory_raw.ledger")[0][0]
    assert raw == len(deployment.plane.ledger()), "the raw copy holds every move of the ledger"
    spots = rows("warehouse", "select count(*) from analytics.blind_spot_history")[0][0]
    assert spots == len({*deployment.plane.warehouse_tables()["blind_spots"]["blind_spot_id"]})
