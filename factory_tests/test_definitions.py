"""The code location: every asset says what it is made with and who owns it, code versions
follow what changes an asset's output, and settings come from the environment (or the
documented defaults when a variable is unset)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from factory.core.synth.autoregressive import ARGN_VERSION
from factory.core.synth.copula import COPULA_VERSION

REPO = Path(__file__).resolve().parents[1]
RESOLVE = """
import json, os, sys
import dagster as dg
from factory.definitions import defs
os.environ.update(json.loads(sys.argv[1]))  # after the import: EnvVar is read when a run starts
with dg.build_resources({k: defs.resources[k] for k in ("factory", "mlflow")}) as r:
    f = r.factory
    print(json.dumps([f.root, f.home, f.local_home, f.spec_path, r.mlflow.ui_url, r.mlflow.factory.root]))
"""


def _resolved(env: dict[str, str], later: dict[str, str] | None = None) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "MLFLOW_"))}
    out = subprocess.run(
        [sys.executable, "-c", RESOLVE, json.dumps(later or {})],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_every_asset_has_kinds_and_one_owner():
    from factory.definitions import OWNERS, defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.kinds, key
        assert list(node.owners) == OWNERS, key
    kinds = {k.to_user_string(): graph.get(k).kinds for k in graph.get_all_asset_keys()}
    assert "great_expectations" in kinds["validated_batch"] and "evidently" in kinds["drift_report"]
    assert "mlflow" in kinds["challenger"] and "dbt" in kinds["model_performance"]


def test_code_versions_follow_the_spec_the_generator_and_the_model_family(tmp_path):
    from factory.definitions import code_versions

    spec = yaml.safe_load((REPO / "specs" / "hotel.yaml").read_text())
    spec["source"]["path"] = str(REPO / "specs" / spec["source"]["path"])
    first = tmp_path / "a.yaml"
    first.write_text(yaml.safe_dump(spec))
    spec["training"] = {**spec.get("training", {}), "model": "mlp"}
    spec["synthesis"] = {**spec.get("synthesis", {}), "generator": "auto"}
    second = tmp_path / "b.yaml"
    second.write_text(yaml.safe_dump(spec))
    a, b = code_versions(str(first)), code_versions(str(second))
    assert a["synthetic_batch"] == COPULA_VERSION and a["challenger"] == "lightgbm"
    assert b["synthetic_batch"] == f"{COPULA_VERSION}+{ARGN_VERSION}" and b["challenger"] == "mlp"
    assert a["reference_snapshot"] != b["reference_snapshot"]
    assert code_versions(str(first)) == a  # derived, not drawn: the same spec gives the same versions
    assert code_versions(str(tmp_path / "missing.yaml")) == {}


def test_settings_default_when_unset_and_are_read_at_run_time():
    assert _resolved({}) == [".factory", "", ".factory", "specs/hotel.yaml", "http://127.0.0.1:5000", ".factory"]
    root = _resolved({"FACTORY_ROOT": "/tmp/first"}, later={"FACTORY_ROOT": "/tmp/second"})
    assert root[0] == "/tmp/second" and root[2] == "/tmp/second" and root[5] == "/tmp/second"
    s3 = _resolved({"FACTORY_ROOT": "s3://bucket/prefix", "MLFLOW_UI_URL": "http://mlflow:5000"})
    assert s3[2] == ".factory" and s3[4] == "http://mlflow:5000"
    home = _resolved({"FACTORY_ROOT": "/tmp/root", "FACTORY_HOME": "/tmp/home"})
    assert home[1:3] == ["/tmp/home", "/tmp/home"]
