"""One Storage over a root URI: a local folder or `s3://bucket/prefix` (s3fs).

Every artefact goes through here, and no reader ever sees half an object. Locally a write
goes to a temporary file that is then renamed onto the key (a rename is atomic). S3 has
no rename (a "move" is a copy, then a delete), but a PUT is atomic: an object appears
whole or not at all, so a write is a single PUT (a multipart upload for large objects,
which S3 assembles only once it is complete) straight to the key; an endpoint that fails
mid-upload leaves the old object, or none.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import fsspec
import pandas as pd

from factory.core.base.errors import StorageError

# botocore's standard retries (throttling, 500s, dropped connections, with backoff) and bounded
# waits: an endpoint that stops answering fails the step (which Dagster retries), never hangs it
S3_CLIENT = {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 5, "mode": "standard"}}


def s3_options_from_env() -> dict[str, Any]:
    """s3fs options from the standard AWS variables (AWS_ENDPOINT_URL for MinIO/moto).

    Credentials come from botocore's own chain (AWS_ACCESS_KEY_ID/SECRET, profiles).
    The listings cache is off: a long-lived process (the landing sensor) must see
    objects another process wrote since it last listed."""
    options: dict[str, Any] = {"use_listings_cache": False, "config_kwargs": S3_CLIENT}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


@dataclass(frozen=True)
class Storage:
    """Keys are `/`-separated paths relative to the root."""

    root: str

    @property
    def is_remote(self) -> bool:
        return "://" in self.root and not self.root.startswith("file://")

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self.is_remote:
            protocol = self.root.split("://", 1)[0]
            options = s3_options_from_env() if protocol in ("s3", "s3a") else {}
            return fsspec.filesystem(protocol, **options)
        return fsspec.filesystem("file", auto_mkdir=True)

    def uri(self, key: str) -> str:
        """The full address of a key, as a person or another tool would open it."""
        root = self.root.rstrip("/")
        if not self.is_remote:
            root = os.path.abspath(root.removeprefix("file://"))
        return f"{root}/{key.lstrip('/')}"

    def exists(self, key: str) -> bool:
        try:
            return self.fs.exists(self.uri(key))
        except Exception as exc:  # an unreachable endpoint: "cannot tell", never "absent"
            raise StorageError(f"cannot reach {self.uri(key)}: {type(exc).__name__}: {exc}") from exc

    def list(self, prefix: str) -> list[str]:
        """Keys directly under a prefix, sorted; empty when the prefix does not exist."""
        base = self.uri(prefix).rstrip("/")
        try:
            entries = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        except Exception as exc:  # an unreachable endpoint: "cannot tell", never "empty"
            raise StorageError(f"cannot list {base}: {type(exc).__name__}: {exc}") from exc
        root = self.uri("").rstrip("/")
        strip = root.split("://", 1)[-1] if self.is_remote else root
        keys = []
        for entry in entries:
            entry = entry.split("://", 1)[-1] if self.is_remote else entry
            keys.append(entry[len(strip) :].lstrip("/"))
        return sorted(k for k in keys if ".tmp-" not in k)

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write atomically (see the module docstring); any failure is a StorageError naming the key."""
        final = self.uri(key)
        fs = self.fs
        if self.is_remote:
            try:
                fs.pipe_file(final, data)
            except Exception as exc:  # botocore's connection errors are not OSErrors
                raise StorageError(f"cannot write {final}: {type(exc).__name__}: {exc}") from exc
            return final
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            fs.makedirs(os.path.dirname(final), exist_ok=True)
            with fs.open(tmp, "wb") as fh:
                fh.write(data)
            fs.mv(tmp, final)
        except OSError as exc:
            raise StorageError(f"cannot write {final}: {exc}") from exc
        finally:
            if fs.exists(tmp):
                fs.rm(tmp)
        return final

    def read_bytes(self, key: str) -> bytes:
        try:
            with self.fs.open(self.uri(key), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise StorageError(f"nothing stored at {self.uri(key)}") from None
        except Exception as exc:  # an unreachable endpoint, a throttled read that ran out of retries
            raise StorageError(f"cannot read {self.uri(key)}: {type(exc).__name__}: {exc}") from exc

    def write_parquet(self, key: str, df: pd.DataFrame) -> str:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False, engine="pyarrow")
        return self.write_bytes(key, buf.getvalue())

    def read_parquet(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.read_bytes(key)), engine="pyarrow")

    def write_json(self, key: str, payload: Any) -> str:
        return self.write_bytes(key, json.dumps(payload, indent=2, default=str).encode())

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def write_text(self, key: str, text: str) -> str:
        return self.write_bytes(key, text.encode())

    def copy(self, src_key: str, dst_key: str) -> str:
        return self.write_bytes(dst_key, self.read_bytes(src_key))
