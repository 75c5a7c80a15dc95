"""The ops cockpit as a person sees it: one replayed cycle, `dagster dev` over it on
127.0.0.1, then Dagster's GraphQL API and headless Chromium (Playwright) check that
the loop's assets, their metadata, the checks and the automations are there.

Chromium comes from Debian (/usr/bin/chromium, installed by `make test`); never
`playwright install`. Screenshots are saved under the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOP = [
    "landed_batch",
    "validated_batch",
    "drift_report",
    "blind_spots",
    "generation_plan",
    "synthetic_batch",
    "synthetic_validation",
    "challenger",
    "evaluation",
    "baselines",
    "promotion",
    "flywheel_report",
]
ROWS, SCHEMA = "dagster/row_count", "dagster/column_schema"
# what each asset's latest materialisation must tell a person (issue 9)
METADATA = {
    "landed_batch": {ROWS, SCHEMA, "sha256", "source"},
    "validated_batch": {ROWS, SCHEMA, "expectations", "failures", "report"},
    "drift_report": {ROWS, SCHEMA, "drift_share", "drifted_columns", "evidently_report"},
    "blind_spots": {ROWS, SCHEMA, "blind_spots", "count"},
    "generation_plan": {"slices", "rows", "budget", "planned", "skipped", "path"},
    "synthetic_batch": {ROWS, SCHEMA, "requested", "path"},
    "synthetic_validation": {ROWS, SCHEMA, "accepted", "dropped", "plan_vs_accepted", "report"},
    "challenger": {
        "version",
        "recipe",
        "candidates",
        "uses_synthetic",
        "synthetic",
        "holdout_copies_dropped",
        "mlflow_run",
    },
    "evaluation": {ROWS, SCHEMA, "scores", "auc_diff", "bs_auc_diff"},
    "baselines": {ROWS, SCHEMA, "baselines"},
    "promotion": {"promoted", "policy", "reason", "champion_version"},
    "flywheel_report": {"report", "cycles", "drift_share", "synthetic_share", "promoted"},
}
TABLES = {
    "blind_spots": ["blind_spots"],
    "challenger": ["candidates"],
    "evaluation": ["scores", "per_blind_spot"],
    "baselines": ["baselines"],
}
CHECKS = {"ingest_gate": "ERROR", "synthetic_gate": "WARN", "promotion_gate": None, "drift_check": "WARN"}
SENSORS = ["landing_sensor", "drift_sensor"]
SCHEDULES = ["monthly_regeneration"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(base: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.load(response)
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


def _wait_for_location(base: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    """Until the webserver answers and the code location has loaded its assets."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{base}/server_info", timeout=5).read()
            nodes = _post(base, "{ assetNodes { assetKey { path } } }")["assetNodes"]
            if {"/".join(n["assetKey"]["path"]) for n in nodes} >= {"promotion"}:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, AssertionError):
            pass
        time.sleep(2)
    pytest.fail(f"dagster dev did not serve the code location in {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def cockpit(tmp_path_factory, small_spec_path):
    """One replayed cycle and the Dagster UI over it; yields (base URL, tmp dir)."""
    tmp = tmp_path_factory.mktemp("cockpit")
    root = tmp / "root"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "DAGSTER_"))}
    replay = subprocess.run(
        [str(BIN / "factory"), "replay", "--spec", str(small_spec_path), "--root", str(root), "--cycles", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "the run failed" not in replay.stdout, replay.stdout
    dagster_home = root / "dagster"
    config = (dagster_home / "dagster.yaml").read_text()  # written by the CLI: no telemetry, no pop-up
    assert "nux:\n  enabled: false" in config and "telemetry:\n  enabled: false" in config
    env.update(
        FACTORY_ROOT=str(root),
        FACTORY_HOME=str(root),
        FACTORY_SPEC=str(small_spec_path),
        DAGSTER_HOME=str(dagster_home),
    )
    port = _free_port()
    log = tmp / "dagster-dev.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_location(base, proc, log)
        yield base, tmp
    finally:  # its code servers are in the same process group: stop them all
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


LATEST = """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {
  assetMaterializations(limit: 1) { partition metadataEntries { label __typename } } } } }"""
OWNERS = """{ assetNodes { assetKey { path } kinds owners { ... on TeamAssetOwner { team } } } }"""
CHECK_NODES = """{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } } }"""
CHECK_RESULTS = """query($path: [String!]!, $name: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $name, limit: 1) {
  status partition evaluation { success severity } } }"""


def test_graphql_shows_the_loop_its_metadata_and_check_results(cockpit):
    base, _ = cockpit
    nodes = _post(base, CHECK_NODES)["assetNodes"]
    assets = {n["assetKey"]["path"][-1]: n for n in nodes}
    assert set(LOOP) <= set(assets)
    for name, keys in METADATA.items():
        data = _post(base, LATEST, {"path": [name]})["assetOrError"]
        latest = data["assetMaterializations"]
        assert latest, f"{name} was never materialised"
        types = {e["label"]: e["__typename"] for e in latest[0]["metadataEntries"]}
        assert keys <= set(types), f"{name} lacks {keys - set(types)}"
        assert latest[0]["partition"] is not None
        assert all(types.get(k, "TableMetadataEntry") == "TableMetadataEntry" for k in TABLES.get(name, [])), types
    owned = _post(base, OWNERS)["assetNodes"]
    assert all(n["kinds"] and n["owners"] == [{"team": "ml-ops"}] for n in owned), owned
    where = {c["name"]: name for name, n in assets.items() for c in (n["assetChecksOrError"] or {}).get("checks", [])}
    assert set(CHECKS) <= set(where), where
    for check, severity in CHECKS.items():
        executions = _post(base, CHECK_RESULTS, {"path": [where[check]], "name": check})["assetCheckExecutions"]
        assert executions and executions[0]["status"] in {"SUCCEEDED", "FAILED"}, (check, executions)
        if severity:
            assert executions[0]["evaluation"]["severity"] == severity
    flywheel = _post(
        base,
        """{ assetOrError(assetKey: {path: ["flywheel_report"]}) { ... on Asset { assetMaterializations(limit: 1) {
        metadataEntries { label ... on PathMetadataEntry { path } } } } } }""",
    )["assetOrError"]["assetMaterializations"][0]
    path = next(e["path"] for e in flywheel["metadataEntries"] if e["label"] == "report")
    assert path.endswith(".html") and "plotly" in Path(path).read_text()


def test_job_and_automation_descriptions(cockpit):
    base, _ = cockpit
    data = _post(
        base,
        """{ repositoriesOrError { ... on RepositoryConnection { nodes {
        jobs { name description } sensors { name description } schedules { name description } } } } }""",
    )
    repo = data["repositoriesOrError"]["nodes"][0]
    for kind in ("jobs", "sensors", "schedules"):
        for item in repo[kind]:
            if not item["name"].startswith("__"):
                assert item["description"], f"{kind[:-1]} {item['name']} has no description"
    assert {"promote_version_job", "rollback_job", "regeneration_job", "flywheel_job"} <= {
        j["name"] for j in repo["jobs"]
    }
    assert set(SENSORS) <= {s["name"] for s in repo["sensors"]} and set(SCHEDULES) <= {
        s["name"] for s in repo["schedules"]
    }


@pytest.fixture(scope="module")
def page(cockpit):
    playwright = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs it (apt-get install chromium)"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def _open(page, cockpit, path: str, shot: str, expect: str):
    """Open a page, wait for a text a person would look for, and take a screenshot."""
    base, tmp = cockpit
    page.goto(base + path)
    page.get_by_text(expect, exact=False).first.wait_for(state="visible")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(tmp / f"{shot}.png"), full_page=True)
    return page.inner_text("body")


def test_catalogue_lists_the_loop(page, cockpit):
    page.set_viewport_size({"width": 1400, "height": 3200})  # the catalogue renders only the rows in view
    try:
        text = _open(page, cockpit, "/assets", "catalogue", "flywheel_report")
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
    assert all(name in text for name in LOOP), [n for n in LOOP if n not in text]


def test_blind_spot_page_shows_its_table(page, cockpit):
    _, tmp = cockpit
    _open(page, cockpit, "/assets/blind_spots", "blind_spots", "Latest materialization")
    header = page.get_by_role("columnheader", name="predicate")  # Dagster's own table, inline
    header.first.wait_for(state="visible")
    page.screenshot(path=str(tmp / "blind_spots-table.png"))
    assert page.get_by_role("columnheader", name="lift").count() >= 1


def test_checks_tab_of_the_validated_batch(page, cockpit):
    text = _open(page, cockpit, "/assets/validated_batch?view=checks", "validated_batch-checks", "ingest_gate")
    assert "blocking" in text and "Passed" in text


def test_automation_page_lists_sensors_and_schedule(page, cockpit):
    text = _open(page, cockpit, "/automation", "automation", "monthly_regeneration")
    assert all(name in text for name in SENSORS + SCHEDULES)


def test_flywheel_report_draws_its_plots(page, cockpit):
    _, tmp = cockpit
    report = next((tmp / "root" / "reports" / "flywheel").glob("*.html"))
    page.goto(report.as_uri())
    page.locator(".main-svg").first.wait_for(state="visible")
    page.screenshot(path=str(tmp / "flywheel_report.png"), full_page=True)
    assert page.locator("g.trace").count() >= 4  # AUC series, drift and synthetic share, promotions
