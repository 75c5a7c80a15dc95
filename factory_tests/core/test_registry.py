"""Registered models are plain artifacts plus MLflow's "models from code", never a
pickle: they load with the same scores, here and where `factory` is not installed."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from factory.core.base.dataset import content_hash
from factory.core.base.errors import RegistryError, RegistryUnavailable
from factory.core.base.plane import DataPlane
from factory.core.base.spec import replace
from factory.core.base.storage import Storage
from factory.core.learn.recipe import load_classifier, train_model
from factory.core.registry.mlflow_registry import Registry, dataset_input, pip_requirements

# Run by the venv's python from an empty folder: the editable install's finder removed,
# `factory` must fail to import before MLflow loads the model from its own copy of it.
OUTSIDE = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
try:
    import factory
except ImportError:
    pass
else:
    raise SystemExit(f"factory is importable here: {factory.__file__}")
import mlflow, numpy as np, pandas as pd
tracking, uri, rows, out = sys.argv[1:]
mlflow.set_tracking_uri(tracking)
mlflow.set_registry_uri(tracking)
model = mlflow.pyfunc.load_model(uri)
np.save(out, model.predict(pd.read_parquet(rows)))
print(sys.modules["factory"].__file__)
"""


@pytest.fixture(scope="module")
def small_spec(hotel_spec):
    return replace(hotel_spec, training=replace(hotel_spec.training, n_estimators=40, learning_rate=0.1))


@pytest.fixture(scope="module")
def registered(hotel_reference, small_spec, hotel_batch, tmp_path_factory):
    """(registry, version, the fitted model, a real later batch's feature rows)."""
    home = tmp_path_factory.mktemp("registry")
    model = train_model(hotel_reference.sample(8000, random_state=0), small_spec)
    rows = hotel_batch("2016-08")[list(small_spec.features)]
    registry = Registry.at(home / "home", DataPlane(Storage(str(home / "root")), small_spec))
    _, version = registry.log_model_run(model, "lightgbm", {}, {}, {}, rows)
    return registry, version, model, rows


def test_the_loop_reloads_exactly_the_fitted_scores(registered):
    registry, version, model, rows = registered
    loaded = registry.load(version)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    np.testing.assert_array_equal(registry.load("challenger").predict(rows), model.predict(rows))


def test_a_saved_model_is_plain_files_with_no_pickle(registered, tmp_path):
    _, _, model, rows = registered
    model.save(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["booster.txt", "classifier.json"]
    np.testing.assert_array_equal(load_classifier(tmp_path / "saved").predict_proba(rows), model.predict_proba(rows))
    pins = pip_requirements(model.modules)
    assert any(p.startswith("lightgbm==") for p in pins) and not any("scikit" in p or "+" in p for p in pins)


def test_mlflow_loads_it_where_factory_is_not_installed(registered, tmp_path):
    registry, version, model, rows = registered
    rows.to_parquet(tmp_path / "rows.parquet")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    uri = f"models:/{registry.model_name}/{version}"
    args = [registry.tracking_uri, uri, str(tmp_path / "rows.parquet"), str(tmp_path / "scores.npy")]
    done = subprocess.run(
        [sys.executable, "-c", OUTSIDE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    used = Path(done.stdout.strip().splitlines()[-1])
    assert used.parts[-3:] == ("code", "factory", "__init__.py")  # the copy logged with the model
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npy"), model.predict_proba(rows))


# -- "no champion" versus "cannot read MLflow"; one promotion per cycle, every move recorded --------


@pytest.fixture
def fresh(hotel_reference, small_spec, hotel_batch, tmp_path):
    """(registry on a fresh store, a model, feature rows): nothing registered yet."""
    model = train_model(hotel_reference.sample(3000, random_state=1), small_spec)
    rows = hotel_batch("2016-08")[list(small_spec.features)]
    return Registry.at(tmp_path / "home", DataPlane(Storage(str(tmp_path / "root")), small_spec)), model, rows


def test_no_champion_only_when_mlflow_says_so_and_the_ledger_agrees(fresh, tmp_path, monkeypatch):
    registry, model, rows = fresh
    assert registry.version_of("champion") is None  # a fresh factory: nothing ever served
    _, version = registry.log_model_run(model, "first", {}, {}, {}, rows)
    registry.promote(version, "2016-06", "first model")
    assert registry.version_of("champion") == version
    # the same root read through another (empty) MLflow store: the ledger says a champion serves
    lost = dataclasses.replace(registry, tracking_uri=f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(RegistryUnavailable, match="ledger says version 1 serves"):
        lost.version_of("champion")
    # an MLflow server that does not answer is "cannot read", never "no champion"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = dataclasses.replace(registry, tracking_uri=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(RegistryUnavailable, match="cannot read the alias 'champion'"):
        down.version_of("champion")
    with pytest.raises(RegistryUnavailable):
        down.run_of(version)


def test_a_cycle_promotes_once_and_an_unrecorded_move_is_undone(fresh, monkeypatch):
    registry, model, rows = fresh
    _, first = registry.log_model_run(model, "first", {}, {}, {}, rows)
    registry.promote(first, "2016-06", "first model")
    _, second = registry.log_model_run(model, "second", {}, {}, {}, rows)
    _, third = registry.log_model_run(model, "third", {}, {}, {}, rows)
    registry.promote(second, "2016-07", "won")
    registry.promote(second, "2016-07", "won")  # a re-run of the same cycle: no second move
    with pytest.raises(RegistryError, match="one promotion per cycle"):
        registry.promote(third, "2016-07", "a racing run of the same cycle")
    assert registry.version_of("champion") == second
    assert registry.ledger()["version"].astype(str).tolist() == [first, second]

    def full_disk(self, entry):
        raise OSError("No space left on device")

    monkeypatch.setattr(DataPlane, "append_ledger", full_disk)
    with pytest.raises(OSError):
        registry.promote(third, "2016-08", "won")
    monkeypatch.undo()
    assert registry.version_of("champion") == second  # the move the ledger could not record was undone
    assert registry.ledger()["version"].astype(str).tolist() == [first, second]


def test_a_rerun_after_a_crash_reuses_the_version_logged_under_the_same_key(fresh):
    registry, model, rows = fresh
    run, version = registry.log_model_run(model, "challenger", {}, {}, {}, rows, key="cycle-2016-07")
    again = registry.log_model_run(model, "challenger", {}, {}, {}, rows, key="cycle-2016-07")
    assert again == (run, version)
    assert registry.log_model_run(model, "challenger", {}, {}, {}, rows, key="cycle-2016-08")[1] != version


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_variables_win_over_the_embedded_store(tmp_path, monkeypatch, small_spec):
    plane = DataPlane(Storage(str(tmp_path / "root")), small_spec)
    embedded = Registry.at(tmp_path / "home", plane)
    assert embedded.tracking_uri == f"sqlite:///{(tmp_path / 'home' / 'mlflow.db').resolve()}"
    assert embedded.artifact_root == str((tmp_path / "home" / "mlartifacts").resolve())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "http://registry.internal:5000")
    served = Registry.at(tmp_path / "other-home", plane)
    assert (served.tracking_uri, served.registry_uri) == (
        "http://mlflow.internal:5000",
        "http://registry.internal:5000",
    )
    assert served.artifact_root == "", "the server decides where artefacts go (--artifacts-destination)"
    assert not (tmp_path / "other-home").exists(), "nothing of the embedded store is created"


def test_using_one_embedded_store_does_not_choose_the_next(tmp_path, monkeypatch, small_spec):
    """MLflow copies the URIs it is given into its own variables: they must not pass for the user's."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    plane = DataPlane(Storage(str(tmp_path / "root")), small_spec)
    Registry.at(tmp_path / "first", plane).experiment_id()
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    assert Registry.at(tmp_path / "second", plane).tracking_uri.endswith("/second/mlflow.db")


def test_a_run_records_its_datasets_with_the_whole_frames_schema_and_hash(fresh, hotel_batch, small_spec):
    import mlflow

    registry, model, rows = fresh
    frame = hotel_batch("2016-08")[[*small_spec.features, small_spec.target]].head(1500).reset_index(drop=True)
    frame["children"] = frame["children"].fillna(0.0)
    frame.loc[1200, "children"] = np.nan  # the only missing value, past the rows the schema is read from
    ds = dataset_input(frame, "training")
    assert ds.schema == mlflow.data.from_pandas(frame).schema  # MLflow's own reading of every value
    assert not next(c for c in ds.schema.inputs if c.name == "children").required
    run_id, _ = registry.log_model_run(model, "with-inputs", {}, {}, {}, rows, inputs={"training": frame})
    (logged,) = mlflow.MlflowClient(registry.tracking_uri).get_run(run_id).inputs.dataset_inputs
    assert logged.dataset.digest == content_hash(frame) != content_hash(frame.head(1000))
