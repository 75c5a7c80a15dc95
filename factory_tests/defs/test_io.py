"""The IO manager through Dagster: values are JSON or parquet, and a pickle where a value
is expected stops the loop instead of running whatever the pickle holds."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from factory.core.base.plane import asset_value_key
from factory.core.base.storage import Storage
from factory.defs.assets import drift_report, validated_batch
from factory.defs.io import StorageIOManager
from factory.defs.partitions import batches
from factory_tests.conftest import Planted


def failure_text(result) -> str:
    """The failed step's error and its cause (Dagster wraps what the IO manager raised)."""
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    return " ".join(e.message for e in (error, error.cause) if e is not None)


def test_a_pickled_asset_value_is_refused_through_dagster(resources, instance, tmp_path):
    batch_id = "2016-02"
    marker = tmp_path / "pickle-ran"
    storage = Storage(resources["factory"].root)
    storage.write_bytes(asset_value_key("validated_batch", batch_id, "pickle"), pickle.dumps(Planted(marker)))
    instance.add_dynamic_partitions(batches.name, [batch_id])
    result = dg.materialize(
        [validated_batch, drift_report],
        selection=[drift_report],
        resources=resources,
        instance=instance,
        partition_key=batch_id,
        raise_on_error=False,
    )
    assert not result.success
    message = failure_text(result)
    assert "validated_batch/2016-02.pickle" in message and "never unpickled" in message
    assert "re-materialise 'validated_batch' for partition 2016-02" in message and "fresh storage root" in message
    assert not marker.exists()
    assert not result.get_asset_materialization_events()


@dataclass(frozen=True)
class Undeclared:
    rows: int


def test_frames_are_parquet_values_json_and_undeclared_dataclasses_fail_the_writer(tmp_path, instance):
    @dg.asset
    def frame() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0, None], "c": ["a", None]})

    @dg.asset
    def summary(frame: pd.DataFrame) -> dict:
        return {"rows": len(frame), "missing": int(frame["x"].isna().sum())}

    @dg.asset
    def loose():
        yield dg.Output(Undeclared(3))

    io = {"io_manager": StorageIOManager(root=str(tmp_path))}
    assert dg.materialize([frame, summary], resources=io, instance=instance).success
    storage = Storage(str(tmp_path))
    pd.testing.assert_frame_equal(
        storage.read_parquet(asset_value_key("frame", None, "parquet")), frame.op.compute_fn.decorated_fn()
    )
    stored = json.loads(storage.read_bytes(asset_value_key("summary", None, "json")))
    assert stored["type"] == "dict" and stored["value"] == {"rows": 2, "missing": 1}
    failed = dg.materialize([loose], resources=io, instance=instance, raise_on_error=False)
    assert not failed.success
    assert "returns a Undeclared but declares typing.Any" in failure_text(failed)
    assert not storage.list("assets/loose")
