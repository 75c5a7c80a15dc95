"""MLflow: one experiment per spec, one run per cycle, a registered model whose
aliases (`champion`, `challenger`) say which version serves, and a promotion ledger
(the alias history MLflow itself does not keep) stored under the factory root.

"No such alias" and "cannot read MLflow" are never confused: only MLflow's own not-found
answer means no champion, and only while the ledger agrees; a locked, unreachable or
missing store raises RegistryUnavailable, so the step fails loudly and Dagster retries it
instead of training and promoting a new first model. Alias moves are serialised by a lock
under FACTORY_HOME (on one machine; across machines by the Dagster pool 'champion'), and a
move the ledger could not record is undone.

The store follows MLflow's own variables: MLFLOW_TRACKING_URI (e.g. a tracking server,
http://mlflow:5000) and MLFLOW_REGISTRY_URI win; without them the embedded store is
sqlite:///<home>/mlflow.db with artifacts under <home>/mlartifacts."""

from __future__ import annotations

import fcntl
import importlib.metadata
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

import factory
from factory.core.base.dataset import content_hash
from factory.core.base.environment import environment
from factory.core.base.errors import RegistryError, RegistryUnavailable
from factory.core.base.plane import DataPlane
from factory.core.learn.model import Classifier
from factory.core.learn.recipe import load_classifier

PYFUNC = Path(__file__).with_name("pyfunc.py")  # MLflow's "model from code": no pickled object
KEY = "factory.cycle_key"  # what a version was trained from: a re-run reuses it
UNAVAILABLE = ("TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED")


def _not_found(exc: Exception) -> bool:
    """MLflow's own answer that a model, version or alias does not exist."""
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc))


@cache
def pip_requirements(modules: tuple[str, ...]) -> tuple[str, ...]:
    """The distributions of the modules a loaded model imports, pinned to the versions
    installed here (cached: scanning the installed distributions takes a second)."""
    distributions = importlib.metadata.packages_distributions()
    names = sorted({d for module in modules for d in distributions.get(module, [module])})
    return tuple(f"{n}=={importlib.metadata.version(n).split('+')[0]}" for n in names)  # 2.13.0+cpu -> 2.13.0


def dataset_input(frame: pd.DataFrame, name: str):
    """The rows a run used, as MLflow's dataset input: the frame's content hash and its schema,
    inferred from the first 1,000 rows plus one row with each column's missing value.
    `mlflow.data.from_pandas` infers the schema value by value over the whole frame (2 s a
    frame on hotel, the slowest part of a cycle's challenger); the schema is the same."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.models import infer_signature

    missing = [frame[c].isna().to_numpy().argmax() for c in frame.columns if frame[c].isna().any()]
    sample = pd.concat([frame.head(1000), frame.iloc[missing]])
    schema = infer_signature(sample).inputs
    return MetaDataset(CodeDatasetSource({}), name=name, digest=content_hash(frame), schema=schema)


@dataclass(frozen=True)
class Registry:
    tracking_uri: str
    artifact_root: str  # empty: the tracking store decides (a server's --artifacts-destination)
    model_name: str
    plane: DataPlane
    lock: str = ""  # a local file serialising alias moves (empty: not serialised here; the Dagster pool does)
    registry_uri: str = ""  # empty: the tracking URI

    @classmethod
    def at(cls, home: str | Path, plane: DataPlane) -> "Registry":
        """MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI when set, else the embedded store under `home`."""
        name = f"factory-{plane.spec.name}"
        registry_uri = os.environ.get("MLFLOW_REGISTRY_URI", "")
        if tracking := os.environ.get("MLFLOW_TRACKING_URI"):
            return cls(tracking, "", name, plane, "", registry_uri)
        home = Path(home).resolve()
        home.mkdir(parents=True, exist_ok=True)
        return cls(
            f"sqlite:///{home / 'mlflow.db'}",
            str(home / "mlartifacts"),
            name,
            plane,
            str(home / "registry.lock"),
            registry_uri,
        )

    def _unavailable(self, doing: str, exc: Exception) -> RegistryUnavailable:
        code = getattr(exc, "error_code", type(exc).__name__)
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return RegistryUnavailable(f"MLflow at {self.tracking_uri} cannot {doing} ({code}): {first}")

    def _client(self):
        import mlflow
        from mlflow import MlflowClient

        for name in ("mlflow", "alembic"):  # migrations and MLflow notices are noise here
            logging.getLogger(name).setLevel(logging.ERROR)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        registry_uri = self.registry_uri or self.tracking_uri
        # MLflow copies the URIs it is given into MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, which
        # `at` reads as the user's choice: put back what the user had (MLflow keeps its own copy).
        uris = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        with environment(**uris):
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(registry_uri)
        return MlflowClient(self.tracking_uri, registry_uri)

    def experiment_id(self) -> str:
        client = self._client()
        exp = client.get_experiment_by_name(self.model_name)
        if exp is not None:
            return exp.experiment_id
        location = Path(self.artifact_root).as_uri() if self.artifact_root else None
        return client.create_experiment(self.model_name, artifact_location=location)

    def log_model_run(
        self,
        model: Classifier,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float | None],
        tags: dict[str, str],
        example: pd.DataFrame,
        inputs: dict[str, pd.DataFrame] | None = None,
        key: str = "",
    ) -> tuple[str, str]:
        """Log a run with its model, datasets and metrics; register the model and point
        the `challenger` alias at it. Returns (run_id, version). With a `key` (what the model
        was trained from), a version already registered under it is reused: a re-run after a
        crash registers no second version of the same cycle."""
        import mlflow
        from mlflow.models import infer_signature

        client = self._client()
        if key and (done := self._registered(key)):
            client.set_registered_model_alias(self.model_name, "challenger", done[1])
            return done
        with mlflow.start_run(experiment_id=self.experiment_id(), run_name=run_name) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
            mlflow.set_tags({**tags, **({KEY: key} if key else {})})
            for context, frame in (inputs or {}).items():
                mlflow.log_input(dataset_input(frame, f"{run_name}-{context}"), context=context)
            example = example.head(5)
            with tempfile.TemporaryDirectory() as tmp:
                model.save(saved := Path(tmp) / "classifier")
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(PYFUNC),
                    artifacts={"classifier": str(saved)},
                    code_paths=[str(Path(factory.__file__).parent)],
                    signature=infer_signature(example, model.predict_proba(example)),
                    input_example=example,
                    pip_requirements=list(pip_requirements(model.modules)),
                    registered_model_name=self.model_name,
                )
        version = str(info.registered_model_version)
        client.set_registered_model_alias(self.model_name, "challenger", version)
        return run.info.run_id, version

    def _registered(self, key: str) -> tuple[str, str] | None:
        """(run_id, version) of a ready version logged under `key`; runs a killed process left
        open under it are closed as KILLED (they registered nothing usable)."""
        client = self._client()
        runs = client.search_runs([self.experiment_id()], filter_string=f"tags.`{KEY}` = '{key}'")
        for run in runs:
            versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
            ready = [v for v in versions if v.status == "READY" and v.name == self.model_name]
            if ready:
                return run.info.run_id, str(ready[0].version)
        for run in runs:
            if run.info.status == "RUNNING":
                client.set_terminated(run.info.run_id, status="KILLED")
        return None

    def log_metrics(self, version: str, metrics: dict[str, float | None]) -> None:
        """Add metrics to the finished run that logged a version: the cycle's evaluation
        and baselines are known only after the challenger's run has closed."""
        from mlflow.entities import Metric

        client = self._client()
        run_id = client.get_model_version(self.model_name, version).run_id
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None]
        for start in range(0, len(batch), 1000):  # MLflow takes at most 1,000 metrics per call
            client.log_batch(run_id, metrics=batch[start : start + 1000])

    def version_of(self, alias: str) -> str | None:
        """The version behind an alias; None only when MLflow answers that there is none and
        (for `champion`) the ledger never recorded one. RegistryUnavailable otherwise."""
        try:
            return str(self._client().get_model_version_by_alias(self.model_name, alias).version)
        except Exception as exc:  # sqlite's OperationalError, an unreachable server, a full disk
            if not _not_found(exc):
                raise self._unavailable(f"read the alias '{alias}'", exc) from exc
        if alias == "champion" and len(ledger := self.ledger()):
            raise RegistryUnavailable(
                f"MLflow at {self.tracking_uri} has no `champion` alias, but the ledger says version "
                f"{ledger['version'].iloc[-1]} serves: is FACTORY_HOME (or the tracking URI) the store the factory "
                "used? Nothing is trained or promoted until it is."
            )
        return None

    def run_of(self, version: str) -> dict[str, str]:
        """The params and tags of the run that logged a version: what it was trained on.
        Empty when MLflow knows no such run (e.g. a version registered by hand)."""
        client = self._client()
        try:
            run_id = client.get_model_version(self.model_name, version).run_id
            run = client.get_run(run_id) if run_id else None
        except Exception as exc:
            if not _not_found(exc):
                raise self._unavailable(f"read version {version}'s run", exc) from exc
            return {}
        return {**run.data.params, **run.data.tags} if run else {}

    def load(self, alias_or_version: str) -> Classifier:
        """The Classifier behind `models:/name@alias` or a version number, read from the
        version's plain artifacts (MLflow's pyfunc wrapper is for serving elsewhere)."""
        import mlflow

        self._client()
        ref = alias_or_version if alias_or_version.isdigit() else f"@{alias_or_version}"
        uri = f"models:/{self.model_name}/{ref}" if ref.isdigit() else f"models:/{self.model_name}{ref}"
        with tempfile.TemporaryDirectory() as tmp:  # the classifier is read into memory: no copy left behind
            try:
                local = mlflow.artifacts.download_artifacts(f"{uri}/artifacts/classifier", dst_path=tmp)
            except Exception as exc:  # MLflow raises several unrelated types for a missing model
                if getattr(exc, "error_code", "") in UNAVAILABLE:
                    raise self._unavailable(f"read {uri}", exc) from exc
                raise RegistryError(
                    f"no model at {uri}: {exc} (a version an older factory logged as a pickle is never loaded: "
                    "retrain it, or start from a fresh FACTORY_HOME)"
                ) from None
            return load_classifier(local)

    def promote(
        self, version: str, batch_id: str, reason: str, metrics: dict[str, Any] | None = None, action: str = "promote"
    ) -> None:
        """Point `champion` at a version and record it in the ledger, one move at a time (a
        lock under FACTORY_HOME). A cycle promotes at most once: the same version again is a
        no-op, another is refused. A move the ledger cannot record is undone."""
        with self._serialised():
            client = self._client()
            previous = self.version_of("champion")
            if action == "promote" and batch_id:
                ledger = self.ledger()
                done = ledger[(ledger["batch_id"] == batch_id) & (ledger["action"] == "promote")]
                if len(done) and str(done["version"].iloc[-1]) == str(version):
                    return
                if len(done):
                    raise RegistryError(
                        f"batch {batch_id} already promoted version {done['version'].iloc[-1]}: one promotion per "
                        f"cycle, version {version} is not promoted"
                    )
            client.set_registered_model_alias(self.model_name, "champion", version)
            entry = dict(
                time=time.strftime("%Y-%m-%dT%H:%M:%S"),
                batch_id=batch_id,
                version=version,
                previous=previous or "",
                action=action,
                reason=reason,
            )
            entry.update({k: v for k, v in (metrics or {}).items() if isinstance(v, (int, float, str))})
            try:
                self.plane.append_ledger(entry)
            except Exception:
                if previous:
                    client.set_registered_model_alias(self.model_name, "champion", previous)
                else:
                    client.delete_registered_model_alias(self.model_name, "champion")
                raise
            client.set_model_version_tag(self.model_name, version, "promoted_for_batch", batch_id)
            client.set_model_version_tag(self.model_name, version, "promotion_reason", reason[:4000])

    @contextmanager
    def _serialised(self) -> Iterator[None]:
        """One alias move at a time across the processes of this machine."""
        if not self.lock:
            yield
            return
        with open(self.lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def rollback(self, version: str, reason: str) -> None:
        """Point `champion` back at a version that was champion before; the ledger
        records it as a rollback with the operator's reason."""
        served = set(self.ledger()["version"].astype(str))
        if str(version) not in served:
            raise RegistryError(
                f"version {version} of {self.model_name} was never champion; served: {sorted(served, key=int)}"
            )
        self.promote(str(version), batch_id="", reason=reason, action="rollback")

    def first_version(self) -> str:
        """The first champion's version: the `frozen` baseline."""
        ledger = self.ledger()
        if ledger.empty:
            raise RegistryError(f"no champion was ever promoted for {self.model_name}")
        return str(ledger["version"].iloc[0])

    def ledger(self) -> pd.DataFrame:
        """Every move of the `champion` alias, oldest first."""
        return self.plane.ledger()
