"""deployments/ checked without a container engine or a cluster: the compose file through Debian's
docker-compose, the Kubernetes manifests through kubernetes-validate, the Helm values against the
chart's own values.schema.json, the Dockerfile through hadolint; and every image, module and
environment variable a file there names is one the package has."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from factory_tests.defs.conftest import REPO
from factory_tests.deploy.conftest import BIN

DEPLOY = REPO / "deployments"
COMPOSE = DEPLOY / "docker" / "docker-compose.yml"
MANIFESTS = sorted(p for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "values.yaml")
SECRETS = dict(PGPASSWORD="not-a-secret", AWS_SECRET_ACCESS_KEY="not-a-secret")
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# Read by the libraries the package runs on, not by its own code: boto3 (AWS_*), MLflow's server
# (MLFLOW_S3_ENDPOINT_URL), Dagster (DAGSTER_HOME, DAGSTER_CURRENT_IMAGE: the image of each run).
LIBRARIES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "MLFLOW_S3_ENDPOINT_URL",
    "DAGSTER_HOME",
    "DAGSTER_CURRENT_IMAGE",
}
VARIABLE = re.compile(r"\b(?:FACTORY|MLFLOW|DAGSTER|DBT|AWS)_[A-Z0-9_]+\b|\bPG[A-Z]+\b")


def config_files() -> list[Path]:
    """Every file in deployments/ that a tool reads (the READMEs and the vendored schema are prose and data)."""
    return sorted(
        p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix != ".md" and p.name not in ("values.schema.json",)
    )


def package_variables() -> set[str]:
    """The variables the package reads: named in its code or in dbt's profile."""
    sources = [*(REPO / "factory").rglob("*.py"), REPO / "dbt" / "profiles.yml"]
    return {name for path in sources for name in VARIABLE.findall(path.read_text())}


def unknown_variables(text: str, known: set[str]) -> set[str]:
    return set(VARIABLE.findall(text)) - known - LIBRARIES


def test_every_variable_a_deployment_sets_is_one_the_package_or_its_libraries_read():
    known = package_variables()
    assert {"FACTORY_ROOT", "MLFLOW_TRACKING_URI", "DBT_TARGET", "PGHOST"} <= known
    assert unknown_variables("FACTORY_ROOTS: s3://x\nPGHOSTNAME: db", known) == {"FACTORY_ROOTS", "PGHOSTNAME"}
    found = {str(p.relative_to(REPO)): unknown_variables(p.read_text(), known) for p in config_files()}
    unknown = {path: names for path, names in found.items() if names}
    assert not unknown, f"variables nothing reads: {unknown}"


def _images() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in config_files():
        for image in re.findall(r"^\s*(?:-\s*)?image:\s*(\S+)", path.read_text(), re.M):
            found.setdefault(image.strip("\"'"), set()).add(path.name)
    return found


def test_the_factory_image_is_named_at_the_package_version_everywhere():
    images = _images()
    ours = {i for i in images if re.search(r"(^|/|:-)factory:", i)}
    assert ours, images
    wrong = {i for i in ours if not i.rstrip("}").endswith(f"factory:{VERSION}")}
    assert not wrong, f"the package is {VERSION}: {wrong}"
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["tag"] == VERSION
    assert "FROM python:3.11" in (DEPLOY / "docker" / "Dockerfile").read_text()


def _classes(node) -> list[tuple[str, str | None]]:
    """(module, class) pairs a Dagster instance file names."""
    if isinstance(node, dict):
        here = [(node["module"], node.get("class"))] if isinstance(node.get("module"), str) else []
        return here + [pair for value in node.values() for pair in _classes(value)]
    if isinstance(node, list):
        return [pair for value in node for pair in _classes(value)]
    return []


def test_every_module_and_class_a_deployment_names_exists():
    instance = yaml.safe_load((DEPLOY / "docker" / "dagster.yaml").read_text())
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    named = _classes(instance) + _classes(values)
    texts = [p.read_text() for p in config_files()]
    modules = {m for text in texts for m in re.findall(r"--module-name\"?,?\s*\"?([\w.]+)", text)}
    assert "factory.definitions" in modules and ("dagster_docker", "DockerRunLauncher") in named
    for module, cls in named:
        assert hasattr(importlib.import_module(module), cls), f"{module}.{cls}"
    for module in modules:
        assert importlib.util.find_spec(module), module
    workspace = yaml.safe_load((DEPLOY / "docker" / "workspace.yaml").read_text())
    compose = yaml.safe_load(COMPOSE.read_text())
    (server,) = workspace["load_from"]
    assert server["grpc_server"]["host"] in compose["services"]


def test_the_heavy_jobs_ask_for_their_pod_resources_in_the_tag_the_k8s_launcher_reads():
    from dagster_k8s.job import get_user_defined_k8s_config

    from factory.defs.jobs import bootstrap_job, flywheel_job, ingest_job, regeneration_job

    for job in (bootstrap_job, flywheel_job, regeneration_job):
        config = get_user_defined_k8s_config(job.tags)
        assert config.container_config["resources"]["limits"]["memory"], job.name
    assert not get_user_defined_k8s_config(ingest_job.tags or {}).container_config


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="Debian's docker-compose (`make test` installs it)")
def test_the_compose_file_is_valid_for_docker_compose():
    env = {**os.environ, **SECRETS}
    out = subprocess.run(["docker-compose", "-f", COMPOSE, "config"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    assert {"postgres", "minio", "minio_init", "mlflow", "factory_code", "webserver", "daemon"} <= set(services)
    assert "postgresql+psycopg2://" in " ".join(map(str, services["mlflow"]["command"]))
    missing = subprocess.run(["docker-compose", "-f", COMPOSE, "config", "-q"], env={"PATH": os.environ["PATH"]})
    assert missing.returncode != 0, "the compose file must refuse to start without its secrets"


def test_the_kubernetes_manifests_are_valid():
    assert MANIFESTS, "deployments/k8s has manifests"
    out = subprocess.run([BIN / "kubernetes-validate", "--strict", *MANIFESTS], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("passed") >= 3, out.stdout


def _schema_without_required(node):
    """Helm checks `required` after merging the chart's own defaults, which are not kept here."""
    if isinstance(node, dict):
        return {k: _schema_without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_schema_without_required(v) for v in node]
    return node


def test_the_helm_values_follow_the_charts_schema():
    import jsonschema
    import kubernetes_validate
    from referencing import Registry, Resource

    kubernetes = sorted(Path(kubernetes_validate.__file__).parent.glob("kubernetes-json-schema/v*-local"))[-1]
    definitions = json.loads((kubernetes / "_definitions.json").read_text())
    definitions.pop("$id")
    definitions["definitions"] = definitions["$defs"]  # the chart's refs say #/definitions/, this copy #/$defs/

    def retrieve(uri: str) -> Resource:  # the chart points at kubernetesjsonschema.dev: kubernetes-validate's copy
        assert uri.endswith("/_definitions.json"), uri
        return Resource.from_contents(definitions)

    schema = _schema_without_required(json.loads((DEPLOY / "k8s" / "values.schema.json").read_text()))
    validator = jsonschema.Draft7Validator(schema, registry=Registry(retrieve=retrieve))
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    assert not [e.message for e in validator.iter_errors(values)]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    bad = {**values, "runLauncher": {"type": "K8sRunLauncher", "config": {"k8sRunLauncher": {"imagePullPolicy": "x"}}}}
    assert list(validator.iter_errors(bad)), "the schema rejects what the chart would"
    misspelt = {**values, "dagsterDaemon": {**values["dagsterDaemon"], "runCoordinater": {}}}
    assert list(validator.iter_errors(misspelt))


def test_the_dockerfile_passes_hadolint():
    hadolint = BIN / "hadolint"
    out = subprocess.run(
        [hadolint, "--failure-threshold", "warning", DEPLOY / "docker" / "Dockerfile"], text=True, capture_output=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
