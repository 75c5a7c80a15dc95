"""The IO manager: asset values under <root>/assets/<asset>/<partition>.<json|parquet>.

Never pickle: whoever can write to the storage root (a bucket) must not be able to run
code in the workers. Frames are parquet; everything else is the core codec's versioned
JSON, decoded against the type the reading asset declares. Any other file where a value
is expected (an old `.pickle`, an unknown format) is refused with how to rebuild it.
"""

from __future__ import annotations

import dataclasses
import os

import dagster as dg
import pandas as pd
from pydantic import Field

from factory.core.base import codec
from factory.core.base.errors import RefusedValue, StorageError
from factory.core.base.plane import asset_value_key, stored_asset_values
from factory.core.base.storage import Storage


def default_root() -> str:
    """The storage root: FACTORY_ROOT, a local path or s3://bucket/prefix (default `.factory`)."""
    return os.environ.get("FACTORY_ROOT", ".factory")


class StorageIOManager(dg.ConfigurableIOManager):
    """Asset values as JSON (dataclasses, dicts, strings) or parquet (frames) under the root."""

    root: str = Field(default_factory=default_root)

    @staticmethod
    def _where(context: dg.OutputContext | dg.InputContext) -> tuple[str, str | None]:
        asset = "/".join(context.asset_key.path)
        return asset, context.asset_partition_key if context.has_asset_partitions else None

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        storage, (asset, partition) = Storage(self.root), self._where(context)
        if isinstance(obj, pd.DataFrame):
            storage.write_parquet(asset_value_key(asset, partition, "parquet"), obj)
            return
        declared = context.dagster_type.typing_type
        if dataclasses.is_dataclass(obj) and type(obj) not in codec.reachable(declared).values():
            raise TypeError(  # fail the writer now, not every reader later
                f"asset '{asset}' returns a {type(obj).__name__} but declares {declared}: declare its type "
                "(-> dg.Output[...], or dagster_type= for a generator body) so its readers can decode it"
            )
        storage.write_bytes(asset_value_key(asset, partition, "json"), codec.dumps(obj))

    def load_input(self, context: dg.InputContext) -> object:
        storage, (asset, partition) = Storage(self.root), self._where(context)
        rebuild = f"re-materialise '{asset}'" + (f" for partition {partition}" if partition else "")
        rebuild += " (or start from a fresh storage root)"
        key = asset_value_key(asset, partition, "json")
        if storage.exists(key):
            try:
                return codec.loads(storage.read_bytes(key), context.dagster_type.typing_type)
            except RefusedValue as exc:
                raise RefusedValue(f"refusing {storage.uri(key)}: {exc}; {rebuild}") from None
        if storage.exists(key := asset_value_key(asset, partition, "parquet")):
            return storage.read_parquet(key)
        others = stored_asset_values(storage, asset, partition)
        if others:
            raise RefusedValue(
                f"refusing {storage.uri(others[0])}: asset values are read only as .json or .parquet, never "
                f"unpickled (whoever can write to the storage root could run code here); {rebuild}"
            )
        raise StorageError(f"no value of '{asset}' stored under {storage.uri(key.rsplit('/', 1)[0])}: {rebuild}")
