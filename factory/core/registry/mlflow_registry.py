"""MLflow: one experiment per spec, one run per cycle, a registered model whose
aliases (`champion`, `challenger`) say which version serves, and a promotion ledger
(the alias history MLflow itself does not keep) stored under the factory root.

The store follows MLflow's own variables: MLFLOW_TRACKING_URI (e.g. a tracking server,
http://mlflow:5000) and MLFLOW_REGISTRY_URI win; without them the embedded store is
sqlite:///<home>/mlflow.db with artifacts under <home>/mlartifacts."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

import factory
from factory.core.base.errors import RegistryError
from factory.core.base.plane import DataPlane
from factory.core.learn.model import Classifier
from factory.core.learn.recipe import load_classifier

PYFUNC = Path(__file__).with_name("pyfunc.py")  # MLflow's "model from code": no pickled object


@cache
def pip_requirements(modules: tuple[str, ...]) -> tuple[str, ...]:
    """The distributions of the modules a loaded model imports, pinned to the versions
    installed here (cached: scanning the installed distributions takes a second)."""
    distributions = importlib.metadata.packages_distributions()
    names = sorted({d for module in modules for d in distributions.get(module, [module])})
    return tuple(f"{n}=={importlib.metadata.version(n).split('+')[0]}" for n in names)  # 2.13.0+cpu -> 2.13.0


@dataclass(frozen=True)
class Registry:
    tracking_uri: str
    artifact_root: str  # empty: the tracking store decides (a server's --artifacts-destination)
    model_name: str
    plane: DataPlane
    registry_uri: str = ""  # empty: the tracking URI

    @classmethod
    def at(cls, home: str | Path, plane: DataPlane) -> "Registry":
        """MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI when set, else the embedded store under `home`."""
        name = f"factory-{plane.spec.name}"
        registry_uri = os.environ.get("MLFLOW_REGISTRY_URI", "")
        if tracking := os.environ.get("MLFLOW_TRACKING_URI"):
            return cls(tracking, "", name, plane, registry_uri)
        home = Path(home).resolve()
        home.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{home / 'mlflow.db'}", str(home / "mlartifacts"), name, plane, registry_uri)

    def _client(self):
        import mlflow
        from mlflow import MlflowClient

        for name in ("mlflow", "alembic"):  # migrations and MLflow notices are noise here
            logging.getLogger(name).setLevel(logging.ERROR)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        registry_uri = self.registry_uri or self.tracking_uri
        # MLflow copies the URIs it is given into MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, which
        # `at` reads as the user's choice: put back what the user had (MLflow keeps its own copy).
        saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(registry_uri)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
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
    ) -> tuple[str, str]:
        """Log a run with its model, datasets and metrics; register the model and point
        the `challenger` alias at it. Returns (run_id, version)."""
        import mlflow
        from mlflow.models import infer_signature

        client = self._client()
        with mlflow.start_run(experiment_id=self.experiment_id(), run_name=run_name) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
            mlflow.set_tags(tags)
            for context, frame in (inputs or {}).items():
                mlflow.log_input(mlflow.data.from_pandas(frame, name=f"{run_name}-{context}"), context=context)
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
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            return str(client.get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException:
            return None

    def run_of(self, version: str) -> dict[str, str]:
        """The params and tags of the run that logged a version: what it was trained on.
        Empty when MLflow knows no such run (e.g. a version registered by hand)."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            run_id = client.get_model_version(self.model_name, version).run_id
            run = client.get_run(run_id) if run_id else None
        except MlflowException:
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
                raise RegistryError(
                    f"no model at {uri}: {exc} (a version an older factory logged as a pickle is never loaded: "
                    "retrain it, or start from a fresh FACTORY_HOME)"
                ) from None
            return load_classifier(local)

    def promote(
        self, version: str, batch_id: str, reason: str, metrics: dict[str, Any] | None = None, action: str = "promote"
    ) -> None:
        """Point `champion` at a version and record it in the ledger."""
        client = self._client()
        previous = self.version_of("champion")
        client.set_registered_model_alias(self.model_name, "champion", version)
        client.set_model_version_tag(self.model_name, version, "promoted_for_batch", batch_id)
        client.set_model_version_tag(self.model_name, version, "promotion_reason", reason[:4000])
        entry = dict(
            time=time.strftime("%Y-%m-%dT%H:%M:%S"),
            batch_id=batch_id,
            version=version,
            previous=previous or "",
            action=action,
            reason=reason,
        )
        entry.update({k: v for k, v in (metrics or {}).items() if isinstance(v, (int, float, str))})
        self.plane.append_ledger(entry)

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
