"""Landed bytes to a frame, or one line saying why they are not a table.

The ingest gate judges rows; this judges the file first, so a file that is not a table
the spec can read (empty, an HTML error page, a Git LFS pointer, compressed, truncated,
another encoding or delimiter, far too large) is refused with one reason instead of a
traceback or sixty column failures. Sizes are checked before anything is parsed.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pandas as pd

from factory.core.base.errors import UnreadableBatch

MAGIC = {  # compressed or binary formats by their first bytes
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"PK\x03\x04": "zip",
    b"\xfd7zXZ": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}
BOM = b"\xef\xbb\xbf"
DELIMITERS = (",", ";", "\t", "|")


def read_batch(
    data: bytes, fmt: str, options: dict[str, Any] | None = None, max_rows: int | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """(rows, notes) of a landed file in `fmt` ("csv" read with the spec's `options`, or
    "parquet"). Notes are harmless fixes (a byte order mark removed). Raises UnreadableBatch
    with a reason code when the bytes are not such a table or hold more than `max_rows` rows."""
    if not data:
        raise UnreadableBatch("empty_file", "the file is empty (0 bytes)")
    head = data[:2048]
    if head.startswith(b"version https://git-lfs"):
        raise UnreadableBatch("lfs_pointer", f"a Git LFS pointer ({len(data)} bytes), not the data: `git lfs pull` it")
    if b"<html" in head.lower() or head.lstrip().lower().startswith(b"<!doctype"):
        raise UnreadableBatch("not_tabular", f"an HTML page, not a {fmt} file (an error page saved as the batch?)")
    if fmt == "parquet":
        return _parquet(data, max_rows), []
    return _csv(data, options or {}, max_rows)


def _parquet(data: bytes, max_rows: int | None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not data.startswith(b"PAR1"):
        kind = next((k for m, k in MAGIC.items() if data.startswith(m)), "")
        raise UnreadableBatch("unreadable", f"not a parquet file (no PAR1 magic{f'; {kind} bytes' if kind else ''})")
    if not data.endswith(b"PAR1"):
        raise UnreadableBatch("unreadable", f"truncated parquet: its footer is missing ({len(data)} bytes)")
    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        if max_rows is not None and meta.num_rows > max_rows:
            unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            bomb = unpacked > 100 * len(data)
            raise UnreadableBatch(
                "decompression_bomb" if bomb else "too_large",
                f"{meta.num_rows} rows ({unpacked / 1e6:.0f} MB unpacked from {len(data) / 1e6:.1f} MB), more than "
                f"the {max_rows} a batch may hold: refused before reading",
            )
        return pd.read_parquet(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UnreadableBatch("unreadable", f"unreadable parquet: {_first_line(exc)}") from None


def _csv(data: bytes, options: dict[str, Any], max_rows: int | None) -> tuple[pd.DataFrame, list[str]]:
    notes = []
    for magic, kind in MAGIC.items():
        if data.startswith(magic):
            raise UnreadableBatch("wrong_compression", f"{kind}-compressed bytes landed as csv: decompress them first")
    if data.startswith(b"PAR1"):
        raise UnreadableBatch("not_tabular", "parquet bytes landed as csv: land them as .parquet")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:2048]:
        raise UnreadableBatch("wrong_encoding", "UTF-16 text (NUL bytes), not UTF-8: re-encode it as UTF-8")
    if data.startswith(BOM):
        data, notes = data[len(BOM) :], ["a UTF-8 byte order mark was removed"]
    encoding = options.get("encoding", "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableBatch(
            "wrong_encoding",
            f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not {encoding} (latin-1?): re-encode it",
        ) from None
    if max_rows is not None and (lines := text.count("\n")) > max_rows:
        raise UnreadableBatch("too_large", f"{lines} lines, more than the {max_rows} rows a batch may hold")
    sep = options.get("sep", options.get("delimiter", ","))
    lines = [line for line in text.splitlines() if line.strip()]
    header = next(csv.reader([lines[0]], delimiter=sep)) if lines else []
    if len(header) == 1 and (other := [d for d in DELIMITERS if d != sep and d in header[0]]):
        raise UnreadableBatch(
            "wrong_delimiter", f"the header is one column split by {other[0]!r}: the spec reads {sep!r}-separated"
        )
    if dupes := sorted({h for h in header if header.count(h) > 1}):
        raise UnreadableBatch("duplicated_header", f"column(s) {dupes} appear twice in the header")
    if len(lines) > 1 and len(last := next(csv.reader([lines[-1]], delimiter=sep))) < len(header):
        raise UnreadableBatch(
            "truncated", f"the last line has {len(last)} of {len(header)} fields: the file was cut off"
        )
    try:
        frame = pd.read_csv(io.StringIO(text), **{k: v for k, v in options.items() if k != "encoding"})
    except pd.errors.EmptyDataError:
        raise UnreadableBatch("empty_file", "the file holds no header and no rows") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise UnreadableBatch("unreadable", f"unparseable csv: {_first_line(exc)}") from None
    repeated = _repeated_header(frame)
    if repeated is not None:
        raise UnreadableBatch(
            "duplicated_header", f"data row {repeated + 1} repeats the header (two files concatenated?)"
        )
    return frame, notes


def _repeated_header(frame: pd.DataFrame) -> int | None:
    """The first row whose every value is its column's name, or None."""
    if frame.empty or not len(frame.columns):
        return None
    first = frame.columns[0]
    candidates = frame.index[frame[first].astype(str) == str(first)]
    names = [str(c) for c in frame.columns]
    for i in candidates:
        if [str(v) for v in frame.loc[i]] == names:
            return int(i)
    return None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
