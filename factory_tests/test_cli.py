"""The `factory` command: help text, readable errors, and the replay on real data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FACTORY = str(Path(sys.executable).parent / "factory")


def _run(args: list[str], tmp_path: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "DAGSTER_HOME"))}
    return subprocess.run([FACTORY, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_help_lists_commands(tmp_path):
    out = _run(["--help"], tmp_path)
    assert out.returncode == 0
    for command in ("replay", "land", "run", "retract", "accept", "ledger", "rollback", "ui"):
        assert command in out.stdout
    replay = _run(["replay", "--help"], tmp_path)
    assert "--cycles" in replay.stdout and "FACTORY_ROOT" in replay.stdout and "--verbose" in replay.stdout


def test_bad_spec_is_a_readable_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "specs" / "hotel.yaml").read_text().replace("target: is_canceled", "targett: is_canceled"))
    out = _run(["replay", "--spec", str(bad), "--root", str(tmp_path / "root"), "--cycles", "1"], tmp_path)
    assert out.returncode == 2
    assert "targett" in out.stderr and "Traceback" not in out.stderr


def test_a_batch_id_that_would_leave_the_root_is_refused_in_one_line(tmp_path):
    batch = tmp_path / "batch.csv"
    batch.write_text("a,b\n1,2\n")
    root = tmp_path / "root"
    out = _run(["land", "../probe-escape", str(batch), "--spec", "specs/hotel.yaml", "--root", str(root)], tmp_path)
    assert out.returncode == 2 and "not a month id" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "probe-escape.csv").exists() and not list(root.rglob("*.csv"))
    spec = ["--spec", "specs/hotel.yaml", "--root", str(root)]
    missing = _run(["retract", "2016-10", "--reason", "wrong export", *spec], tmp_path)
    assert missing.returncode == 2 and "has not landed" in missing.stderr and "Traceback" not in missing.stderr
    assert _run(["land", "2016-10", str(batch), *spec], tmp_path).returncode == 0
    retracted = _run(["retract", "2016-10", "--reason", "wrong export", *spec], tmp_path)
    assert retracted.returncode == 0 and "retracted from" in retracted.stdout and "wrong export" in retracted.stdout
    assert (root / "landing" / "2016-10.csv").read_bytes() == batch.read_bytes()  # the bytes stay


def test_a_users_dagster_home_and_its_dagster_yaml_are_respected(tmp_path):
    """An ops team's instance (PostgreSQL, a run queue) is never replaced by the CLI's own."""
    own = tmp_path / "instance"
    own.mkdir()
    (own / "dagster.yaml").write_text(mine := "telemetry:\n  enabled: false\n# the ops team's instance\n")
    env = {"DAGSTER_HOME": str(own)}
    out = subprocess.run(
        [FACTORY, "ledger", "--root", str(tmp_path / "root")],
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "DAGSTER_"))}, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert (own / "dagster.yaml").read_text() == mine
    assert not (tmp_path / "root" / "dagster").exists(), "no instance of its own beside the user's"
    # without DAGSTER_HOME the CLI prepares its own, with the pool limit that keeps one loop at a time
    assert _run(["ledger", "--root", str(tmp_path / "root")], tmp_path).returncode == 0
    written = yaml.safe_load((tmp_path / "root" / "dagster" / "dagster.yaml").read_text())
    assert written["concurrency"]["pools"] == {"granularity": "run", "default_limit": 1}


@pytest.mark.slow
def test_replay_one_cycle_on_real_hotel_data(tmp_path):
    root = tmp_path / "root"
    out = _run(["replay", "--spec", "specs/hotel.yaml", "--root", str(root), "--cycles", "1"], tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = json.loads((root / "summary.json").read_text())
    (cycle,) = summary["cycles"]
    assert cycle["batch"] == "2016-07" and cycle["rows"] == 4572
    assert cycle["champion_auc"] is not None and cycle["challenger_auc"] is not None
    assert cycle["note"] == ""
    assert "2016-07" in out.stdout and "summary written" in out.stdout
    assert re.search(r"warehouse: built \d+ models; dbt tests: \d+ passed, 0 failed", out.stdout), out.stdout
    # only the factory's own lines: what dbt, MLflow and Dagster print goes to the log (and the run logs)
    printed = out.stdout + out.stderr
    for noise in ("Created version", "already exists", "PreviewWarning", " OK created", "Running with dbt"):
        assert noise not in printed, noise
    assert len(printed.splitlines()) <= 8, printed
    log = (root / "logs" / "replay.log").read_text()
    assert "Created version" in log and "Running with dbt" in log
    # one MLflow run per model: the initial champion and this cycle's challenger
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("factory-hotel").experiment_id])
    assert {r.info.run_name for r in runs} == {"initial-champion", "challenger-2016-07"}
    ledger = _run(["ledger", "--root", str(root)], tmp_path)
    assert "first model" in ledger.stdout
    # roll back to a version that was never champion: refused; to the first one: recorded
    refused = _run(["rollback", "99", "--reason", "typo", "--root", str(root)], tmp_path)
    assert refused.returncode == 2 and "never champion" in refused.stderr
    back = _run(["rollback", "1", "--reason", "incident 42", "--root", str(root)], tmp_path)
    assert back.returncode == 0, back.stderr
    ledger = _run(["ledger", "--root", str(root)], tmp_path)
    assert "rollback" in ledger.stdout and "incident 42" in ledger.stdout
