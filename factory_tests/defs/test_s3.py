"""The data plane on S3: a real `moto_server` on 127.0.0.1, the loop for one cycle with
the root on `s3://bucket/prefix`, atomic writes and landing rules against S3.

MLflow and the Dagster instance stay local (FACTORY_HOME), as they do in production."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from factory.core.base.errors import LandingConflict, StorageError
from factory.core.base.plane import DataPlane
from factory.core.base.spec import load_spec
from factory.core.base.storage import Storage
from factory.defs.assets import ingest_assets, reference_assets, regeneration_assets
from factory.defs.io import StorageIOManager
from factory.defs.partitions import batches
from factory.defs.resources import FactoryResource, MLflowResource
from factory_tests.conftest import BUCKET
from factory_tests.defs.conftest import batch_frame, production_batches, temporary_instance

pytestmark = pytest.mark.slow  # each test materialises a cycle or more


def _objects(prefix: str) -> list[str]:
    """Every object under s3://BUCKET/prefix, as keys relative to the prefix, read with a fresh client."""
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}, use_listings_cache=False)
    base = f"{BUCKET}/{prefix}"
    return sorted(p[len(base) + 1 :] for p in fs.find(base))


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path) -> Storage:
    if request.param == "local":
        return Storage(str(tmp_path / "root"))
    request.getfixturevalue("s3_endpoint")
    return Storage(f"s3://{BUCKET}/unit-{tmp_path.name}")


def test_s3_round_trip_and_list(s3_endpoint, tmp_path):
    storage = Storage(f"s3://{BUCKET}/rt-{tmp_path.name}/")
    frame = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", None]})
    assert (
        storage.write_parquet("validated/2016-07.parquet", frame)
        == f"s3://{BUCKET}/rt-{tmp_path.name}/validated/2016-07.parquet"
    )
    pd.testing.assert_frame_equal(storage.read_parquet("validated/2016-07.parquet"), frame)
    storage.write_json("landing/b.json", {"k": 1})
    storage.write_bytes("landing/a.parquet", b"x")
    assert storage.list("landing") == ["landing/a.parquet", "landing/b.json"]
    assert storage.list("") == ["landing", "validated"]
    assert storage.list("missing") == []
    storage.write_bytes("landing/a.parquet", b"y")  # overwrite replaces
    assert storage.read_bytes("landing/a.parquet") == b"y"
    with pytest.raises(StorageError, match="nothing stored"):
        storage.read_bytes("landing/zzz.parquet")
    assert _objects(f"rt-{tmp_path.name}") == ["landing/a.parquet", "landing/b.json", "validated/2016-07.parquet"]


def test_a_crash_mid_write_leaves_no_visible_object(storage, monkeypatch):
    """A process that dies mid-write (locally between the temporary file and the rename; on
    S3 inside the upload): no cleanup runs, and no reader ever sees a partial object."""
    plane = DataPlane(storage, load_spec(Path(__file__).resolve().parents[2] / "specs" / "hotel.yaml"))
    storage.write_parquet("validated/2016-06.parquet", pd.DataFrame({"x": [1]}))
    fs = storage.fs  # fsspec caches filesystem instances: Storage uses this very one

    class Crash(BaseException):
        """Not an OSError: like SIGKILL, nothing catches it."""

    def crash(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(fs, "pipe_file" if storage.is_remote else "mv", crash)
    monkeypatch.setattr(fs, "rm", lambda *a, **k: None)  # a dead process cleans nothing up
    with pytest.raises(Crash):
        plane.write_validated("2016-07", pd.DataFrame({"x": [2]}))
    with pytest.raises(Crash):
        plane.land_frame("2016-07", pd.DataFrame({"x": [2]}))
    monkeypatch.undo()

    assert not storage.exists("validated/2016-07.parquet")
    assert plane.validated_batches() == ["2016-06"]
    assert plane.landed_batches() == [] and plane.landed_key("2016-07") is None
    assert storage.list("validated") == ["validated/2016-06.parquet"]
    leftovers = storage.fs.find(storage.uri("validated"))
    if not storage.is_remote:
        assert any(".tmp-" in p for p in leftovers), "the temporary file was written before the crash"
    else:
        assert all(".tmp-" not in p for p in leftovers), "S3 writes go straight to the key: nothing to leave"
    # the next run writes the batch normally
    assert plane.land_frame("2016-07", pd.DataFrame({"x": [2]})).created
    assert plane.landed_batches() == ["2016-07"]


def test_a_failed_upload_keeps_the_old_object_on_s3(s3_endpoint, tmp_path, monkeypatch):
    storage = Storage(f"s3://{BUCKET}/fail-{tmp_path.name}")
    storage.write_bytes("k.bin", b"old")

    def broken_upload(*args, **kwargs):
        raise OSError("connection reset")

    monkeypatch.setattr(storage.fs, "pipe_file", broken_upload)
    with pytest.raises(StorageError, match="cannot write"):
        storage.write_bytes("k.bin", b"new")
    monkeypatch.undo()
    assert storage.read_bytes("k.bin") == b"old"
    assert _objects(f"fail-{tmp_path.name}") == ["k.bin"]


def test_duplicate_and_conflicting_landings_on_s3(s3_endpoint, tmp_path, hotel_spec):
    plane = DataPlane(Storage(f"s3://{BUCKET}/land-{tmp_path.name}"), hotel_spec)
    frame = pd.DataFrame({"lead_time": [1.0, 2.0]})
    first, again = plane.land_frame("2016-07", frame), plane.land_frame("2016-07", frame)
    assert first.created and not again.created and first.sha256 == again.sha256
    with pytest.raises(LandingConflict, match="immutable"):
        plane.land_frame("2016-07", pd.DataFrame({"lead_time": [3.0]}))
    with pytest.raises(LandingConflict):
        plane.land("2016-07", b"lead_time\n3\n", fmt="csv")
    assert plane.read_landed("2016-07")["lead_time"].tolist() == [1.0, 2.0]
    assert _objects(f"land-{tmp_path.name}") == ["landing/2016-07.json", "landing/2016-07.parquet"]


@pytest.fixture
def hotel_spec():
    return load_spec(Path(__file__).resolve().parents[2] / "specs" / "hotel.yaml")


def test_one_cycle_with_the_root_on_s3(s3_endpoint, tmp_path, small_spec_path, small_dataset):
    prefix = f"loop-{tmp_path.name}"
    factory = FactoryResource(
        root=f"s3://{BUCKET}/{prefix}", home=str(tmp_path / "home"), spec_path=str(small_spec_path)
    )
    resources = {
        "factory": factory,
        "mlflow": MLflowResource(factory=factory),
        "io_manager": StorageIOManager(root=factory.root),
    }
    batch_id = production_batches(small_dataset)[0]
    with temporary_instance() as instance:
        assert dg.materialize(reference_assets, resources=resources, instance=instance).success
        factory.plane.land_frame(batch_id, batch_frame(small_dataset, batch_id))
        instance.add_dynamic_partitions(batches.name, [batch_id])
        result = dg.materialize(
            ingest_assets + regeneration_assets,
            resources=resources,
            instance=instance,
            partition_key=batch_id,
            raise_on_error=False,
        )
    assert result.success
    objects = _objects(prefix)
    expected = [
        f"landing/{batch_id}.parquet",
        f"landing/{batch_id}.json",
        "reference/data.parquet",
        "reference/profile.json",
        f"validated/{batch_id}.parquet",
        f"reports/validation/{batch_id}.json",
        f"reports/drift/{batch_id}.html",
        f"reports/drift/{batch_id}.parquet",
        f"reports/synthetic_validation/{batch_id}.json",
        f"blind_spots/{batch_id}.parquet",
        f"evaluation/{batch_id}.json",
        f"evaluation/{batch_id}.parquet",
        f"assets/validated_batch/{batch_id}.json",
        f"assets/drift_report/{batch_id}.json",
        f"assets/evaluation/{batch_id}.json",
        f"assets/promotion/{batch_id}.json",
    ]
    moves = 1 + bool(result.output_for_node("promotion")["promoted"])  # the first champion, and this cycle's
    assert len([k for k in objects if k.startswith("registry/ledger/")]) == moves, "one object per alias move"
    missing = [key for key in expected if key not in objects]
    assert not missing, f"missing on S3: {missing}; present: {objects}"
    synthetic = [k for k in objects if k.startswith(f"synthetic/{batch_id}/")]
    assert any(k.endswith(".accepted.parquet") for k in synthetic) and any(k.endswith(".plan.json") for k in synthetic)
    assert not [k for k in objects if ".tmp-" in k], "no temporary object is left behind"
    # nothing of the root was written to the local disk: only the local state lives there
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["mlartifacts", "mlflow.db", "registry.lock"]
    tidy = factory.plane.storage.read_parquet(f"reports/drift/{batch_id}.parquet")
    assert abs(tidy["drifted"].mean() - result.output_for_node("drift_report").drift_share) < 1e-9


def test_concurrent_ledger_appends_lose_no_move(storage, hotel_spec):
    """Writers that append at the same moment (two loop runs, a rollback) each add an object of
    their own: none can overwrite another's row, as a read-modify-write of one file would."""
    plane = DataPlane(storage, hotel_spec)
    writers, moves = 6, 5

    def write(writer: int) -> None:
        for move in range(moves):
            plane.append_ledger(dict(time="t", batch_id=f"w{writer}", version=f"{writer}.{move}", action="promote"))

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    ledger = plane.ledger()
    assert len(ledger) == writers * moves
    assert sorted(ledger["version"]) == sorted(f"{w}.{m}" for w in range(writers) for m in range(moves))
    for writer in range(writers):  # each writer's moves come back in the order it made them
        mine = ledger[ledger["batch_id"] == f"w{writer}"]["version"].tolist()
        assert mine == [f"{writer}.{m}" for m in range(moves)]
