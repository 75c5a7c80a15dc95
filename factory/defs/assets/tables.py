"""What the asset modules share: the group, the champion pool, the retry policy, and metadata in Dagster's own
table types (the UI sorts and types them; markdown tables it can only print)."""

import dagster as dg
import pandas as pd

from factory.core.base.rounding import rounded_row
from factory.core.base.types import plain

LOOP = "flywheel"  # the group of the per-batch assets in the UI
# Every step that reads or moves the MLflow alias `champion` is in this pool. The instance limits it to one
# run at a time (dagster.yaml: concurrency.pools granularity run, default_limit 1), so the drift sensor, the
# schedule and a backfill never race on the alias or the ledger: a second loop run waits in the queue.
CHAMPION_POOL = "champion"
# MLflow's SQLite store and S3 drop a connection now and then: try again, a little later each time
RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
_TYPES = ((bool, "bool"), (int, "int"), ((int, float), "float"))


def _column_type(values: list) -> str:
    present = [v for v in values if v is not None]
    for kind, name in _TYPES:
        if present and all(isinstance(v, kind) for v in present):
            return name
    return "string"


def _cell(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def table(rows: list[dict], columns: list[str] | None = None) -> dg.TableMetadataValue:
    """Rows as a typed Dagster table showing `columns` (default: every key), each number
    rounded to what its interval in the same row justifies, shown or not."""
    rows = [figures(r) for r in rows]
    names = columns or list(dict.fromkeys(k for r in rows for k in r))
    schema = dg.TableSchema(columns=[dg.TableColumn(name, _column_type([r.get(name) for r in rows])) for name in names])
    records = [dg.TableRecord({name: _cell(r.get(name)) for name in names}) for r in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


def frame_metadata(frame: pd.DataFrame) -> dict:
    """Row count and column schema of a frame an asset is or writes, under Dagster's own keys."""
    columns = [dg.TableColumn(str(name), str(dtype)) for name, dtype in frame.dtypes.items()]
    return {"dagster/row_count": len(frame), "dagster/column_schema": dg.TableSchema(columns=columns)}


def figures(metadata: dict) -> dict:
    """Metadata as plain Python (no numpy scalars), floats rounded as in `table`."""
    kept = (dg.MetadataValue, dg.TableSchema)  # already Dagster's own
    return rounded_row({k: v if isinstance(v, kept) else plain(v) for k, v in metadata.items()})
