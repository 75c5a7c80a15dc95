"""One hierarchy of errors, each message naming what a person must fix."""

from __future__ import annotations


class FactoryError(Exception):
    """Base class: every error the factory raises on purpose."""


class SpecError(FactoryError):
    """A dataset spec is malformed: names the file and the key or column."""


class DataSourceError(FactoryError):
    """The dataset's source file cannot be found or read."""


class StorageError(FactoryError):
    """A read or write under the storage root failed or was refused."""


class RefusedValue(StorageError):
    """A stored value is not in a format the factory reads (a pickle, an unknown format or
    version): it is refused, never executed; the message says how to rebuild it."""


class LandingConflict(StorageError):
    """A batch id already holds different content: landed batches are immutable."""


class BatchIdError(StorageError):
    """A batch id is not in the spec's period format: it never names anything under the root."""


class UnreadableBatch(StorageError):
    """Landed bytes that are not a table the spec can read (empty, HTML, compressed, truncated,
    another encoding or delimiter). `code` is the gate's reason code; the message is one line."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


class BatchRejected(FactoryError):
    """A landed batch failed the ingest gate and was quarantined."""

    def __init__(self, batch_id: str, failures: list[str], quarantine_uri: str):
        self.batch_id = batch_id
        self.failures = failures
        self.quarantine_uri = quarantine_uri
        lines = "\n".join(f"  - {f}" for f in failures)
        super().__init__(f"batch {batch_id} rejected by the ingest gate, quarantined at {quarantine_uri}:\n{lines}")


class SynthesisError(FactoryError):
    """A generator could not fit or could not produce rows for a blind spot."""


class RegistryError(FactoryError):
    """MLflow holds no model where one was expected (e.g. no champion yet)."""


class RegistryUnavailable(RegistryError):
    """MLflow cannot be read or written (locked, unreachable, full): never "no champion".
    The step fails loudly and Dagster retries it."""
