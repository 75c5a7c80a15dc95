"""Storage on a local folder and the data plane's landing rules."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory.core.base.errors import LandingConflict, StorageError
from factory.core.base.plane import DataPlane
from factory.core.base.storage import Storage


@pytest.fixture()
def storage(tmp_path):
    return Storage(str(tmp_path / "root"))


def all_files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def test_parquet_round_trip(storage):
    df = pd.DataFrame(
        {
            "x": np.arange(5, dtype=float),
            "cat": ["a", None, "c", "d", "e"],
            "flag": [True, False, True, True, False],
        }
    )
    uri = storage.write_parquet("validated/2016-07.parquet", df)
    assert uri == storage.uri("validated/2016-07.parquet")
    assert os.path.exists(uri)
    pd.testing.assert_frame_equal(storage.read_parquet("validated/2016-07.parquet"), df)


def test_json_text_and_bytes_round_trip(storage):
    storage.write_json("a/b.json", {"k": [1, 2], "when": "2016-07"})
    assert storage.read_json("a/b.json") == {"k": [1, 2], "when": "2016-07"}
    storage.write_text("a/c.txt", "hello")
    assert storage.read_bytes("a/c.txt") == b"hello"
    storage.copy("a/c.txt", "z/d.txt")
    assert storage.read_bytes("z/d.txt") == b"hello"


def test_overwrite_replaces_content(storage):
    storage.write_bytes("k.bin", b"one")
    storage.write_bytes("k.bin", b"two")
    assert storage.read_bytes("k.bin") == b"two"
    assert storage.list("") == ["k.bin"]


def test_reading_a_missing_key_is_a_storage_error(storage):
    with pytest.raises(StorageError, match="nothing stored"):
        storage.read_bytes("missing/key.json")


def test_list_is_sorted_keys_under_a_prefix(storage):
    for key in ("landing/b.parquet", "landing/a.parquet", "landing/a.json", "other/x.json"):
        storage.write_bytes(key, b"x")
    assert storage.list("landing") == ["landing/a.json", "landing/a.parquet", "landing/b.parquet"]
    assert storage.exists("other/x.json")
    assert not storage.exists("other/y.json")


def test_list_of_missing_prefix_is_empty(storage):
    assert storage.list("nothing/here") == []
    storage.write_bytes("somewhere/else.bin", b"x")
    assert storage.list("nothing") == []


def test_write_is_atomic_when_the_move_fails(storage, monkeypatch):
    fs_type = type(storage.fs)
    seen = {}

    def broken_mv(self, path1, path2, *args, **kwargs):
        seen["tmp_written"] = os.path.exists(path1) and Path(path1).read_bytes() == b"payload"
        seen["target"] = path2
        raise OSError("disk went away mid-write")

    monkeypatch.setattr(fs_type, "mv", broken_mv)
    with pytest.raises(StorageError, match="cannot write"):
        storage.write_bytes("landing/2016-07.parquet", b"payload")
    assert seen["tmp_written"], "the bytes go to a temporary object first"
    assert seen["target"] == storage.uri("landing/2016-07.parquet")

    assert storage.list("landing") == []  # neither the final object nor a temporary one
    assert not storage.exists("landing/2016-07.parquet")
    assert all_files(storage.uri("")) == []  # not even hidden from `list`: the temporary is removed


def test_failed_overwrite_keeps_the_old_object(storage, monkeypatch):
    storage.write_bytes("k.bin", b"old")

    def broken_mv(self, *args, **kwargs):
        raise OSError("no space left")

    monkeypatch.setattr(type(storage.fs), "mv", broken_mv)
    with pytest.raises(StorageError):
        storage.write_bytes("k.bin", b"new")
    monkeypatch.undo()
    assert storage.read_bytes("k.bin") == b"old"
    assert all_files(storage.uri("")) == ["k.bin"]


def test_uri_of_local_root(tmp_path):
    s = Storage(f"file://{tmp_path}/r")
    assert not s.is_remote
    assert s.uri("/a/b.json") == f"{tmp_path}/r/a/b.json"
    assert Storage("s3://bucket/prefix").is_remote
    assert Storage("s3://bucket/prefix/").uri("a/b") == "s3://bucket/prefix/a/b"


# -- DataPlane.land ---------------------------------------------------------------


@pytest.fixture()
def plane(storage, hotel_spec):
    return DataPlane(storage, hotel_spec)


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_landing_the_same_bytes_twice_is_a_no_op(plane):
    data = parquet_bytes(pd.DataFrame({"lead_time": [1.0, 2.0]}))
    first = plane.land("2016-07", data)
    second = plane.land("2016-07", data)
    assert first.created is True
    assert second.created is False
    assert first.key == second.key == "landing/2016-07.parquet"
    assert first.sha256 == second.sha256
    assert plane.storage.read_bytes(first.key) == data
    manifest = plane.storage.read_json("landing/2016-07.json")
    assert manifest["sha256"] == first.sha256 and manifest["bytes"] == len(data)


def test_landing_different_bytes_under_a_landed_batch_is_refused(plane):
    plane.land("2016-07", parquet_bytes(pd.DataFrame({"lead_time": [1.0]})))
    other = parquet_bytes(pd.DataFrame({"lead_time": [2.0]}))
    with pytest.raises(LandingConflict, match="2016-07"):
        plane.land("2016-07", other)
    with pytest.raises(LandingConflict):  # the format does not matter: the batch id is taken
        plane.land("2016-07", b"lead_time\n2\n", fmt="csv")
    assert plane.read_landed("2016-07")["lead_time"].tolist() == [1.0]  # untouched


def test_landing_conflict_is_a_storage_error():
    assert issubclass(LandingConflict, StorageError)


def test_landed_batches_lists_batch_ids(plane):
    assert plane.landed_batches() == []
    plane.land("2016-08", b"lead_time\n3\n", fmt="csv")
    plane.land_frame("2016-07", pd.DataFrame({"lead_time": [1.0]}))
    assert plane.landed_batches() == ["2016-07", "2016-08"]
    assert plane.landed_key("2016-08") == "landing/2016-08.csv"
    assert plane.landed_key("2016-09") is None
    assert plane.read_landed("2016-08")["lead_time"].tolist() == [3]


def test_unsupported_landing_format_is_refused(plane):
    with pytest.raises(StorageError, match="unsupported format"):
        plane.land("2016-07", b"{}", fmt="json")
    assert plane.landed_batches() == []


def test_reading_a_batch_that_never_landed(plane):
    with pytest.raises(StorageError, match="has not landed"):
        plane.read_landed("2016-07")
