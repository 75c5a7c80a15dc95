"""Read a dataset through its spec: normalised types, rows in time order, batch ids
(base.clock names them after the spec's period, so they sort in time).
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from factory.core.base.admit import refuse_batches, refuse_target
from factory.core.base.clock import batch_ids, row_times
from factory.core.base.errors import DataSourceError
from factory.core.base.spec import DatasetSpec

BATCH = "_batch"  # the batch id column added to every frame the factory reads


def source_path(spec: DatasetSpec) -> Path:
    """The local file of the spec's source, downloading its URL once into a cache."""
    src = spec.source
    if src.path:
        path = Path(src.path)
        if not path.is_absolute():
            path = (Path(spec.spec_path).parent / path).resolve()
        if path.exists():
            return path
    cache = Path(os.environ.get("FACTORY_DATA_CACHE", Path.home() / ".cache" / "factory"))
    if src.url:
        cached = cache / f"{spec.name}-{hashlib.sha256(src.url.encode()).hexdigest()[:12]}{Path(src.url).suffix}"
        if cached.exists():
            return cached
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".part")
        try:
            urllib.request.urlretrieve(src.url, tmp)
        except OSError as exc:
            raise DataSourceError(
                f"dataset '{spec.name}': {src.path!r} not found and downloading {src.url} failed ({exc}). "
                f"Put the file at {src.path!r} (relative to {spec.spec_path}) or at {cached}."
            ) from None
        tmp.rename(cached)
        return cached
    raise DataSourceError(
        f"dataset '{spec.name}': source file {src.path!r} (relative to {spec.spec_path}) not found "
        "and the spec gives no url to download it from"
    )


def read_raw(spec: DatasetSpec, path: str | Path | None = None) -> pd.DataFrame:
    """Read the raw source (or another file in the spec's format) with the spec's options."""
    path = Path(path) if path else source_path(spec)
    try:
        if spec.source.format == "csv":
            return pd.read_csv(path, **spec.source.options)
        if spec.source.format == "parquet":
            return pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataSourceError(f"dataset '{spec.name}': cannot read {path}: {exc}") from None
    raise DataSourceError(f"dataset '{spec.name}': unknown source format '{spec.source.format}'")


def load_dataset(spec: DatasetSpec) -> pd.DataFrame:
    """The whole source, normalised, in time order, with its batch id column. A dataset the
    factory cannot take (base.admit) is refused here, naming the column or setting."""
    raw = read_raw(spec)
    spec.check_columns(list(raw.columns))
    times = None if spec.period == "rows" else row_times(raw, spec)
    raw[BATCH] = batch_ids(raw, spec, times)
    if times is not None:
        order = np.argsort(times.to_numpy(), kind="stable")
        raw, times = raw.iloc[order].reset_index(drop=True), times.iloc[order].reset_index(drop=True)
    dataset = normalise(raw, spec)
    refuse_target(spec, raw[spec.target], dataset[spec.target])
    refuse_batches(spec, dataset[spec.target], dataset[BATCH], times)
    return dataset


def normalise(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Categoricals as strings (ids stored as floats become '9', not '9.0'), numerics
    as floats, the label as 0/1 where present. Other columns pass through."""
    out = df.copy()
    for col in spec.categorical:
        out[col] = categorical_strings(out[col])
    for col in spec.numeric:
        out[col] = pd.to_numeric(out[col], errors="raise").astype(float).replace([np.inf, -np.inf], np.nan)
    if spec.target in out.columns:
        out[spec.target] = label_values(out[spec.target], spec)
    return out


def categorical_strings(values: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(values):
        ints = values.round()
        if ((ints - values).abs().fillna(0) == 0).all():
            values = ints.astype("Int64")
    strings = values.astype(object).where(values.notna(), None)
    return strings.map(lambda v: None if v is None else str(v)).astype(object)


def label_values(values: pd.Series, spec: DatasetSpec) -> pd.Series:
    """1 for the positive label, 0 otherwise, missing where the label has not arrived."""
    if pd.api.types.is_numeric_dtype(values) and isinstance(spec.positive_label, (int, float)):
        return (values == spec.positive_label).astype(float).where(values.notna(), np.nan)
    if pd.api.types.is_numeric_dtype(values) and values.dropna().isin([0, 1]).all():
        return values.astype(float)  # already normalised
    positive = values.astype(str) == str(spec.positive_label)
    return positive.astype(float).where(values.notna(), np.nan)


def content_hash(df: pd.DataFrame) -> str:
    """A stable fingerprint of a frame's content (column names, order and values)."""
    h = hashlib.sha256("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return h.hexdigest()[:16]


def sample_rows(df: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """At most n rows of a frame, drawn without replacement (all of them when fewer)."""
    return df.sample(n=n, random_state=seed) if len(df) > n else df


def exact_copies(rows: pd.DataFrame, others: pd.DataFrame, columns: list[str]) -> pd.Series:
    """True for rows whose `columns` equal some row of `others` exactly (a synthetic row
    copying a real one; a judged row copying a training row)."""
    keys, other_keys = copy_keys(rows, others, columns)
    return pd.Series(np.isin(keys, other_keys), index=rows.index)


def copy_keys(rows: pd.DataFrame, others: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The row_keys of both frames, a column hashed as a number only where it is one in
    both: equal keys are exact copies. Hash once, then compare any subsets of the rows."""
    numeric = {c for c in columns if _is_number(rows[c]) and _is_number(others[c])}
    return row_keys(rows, columns, numeric), row_keys(others, columns, numeric)


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def row_keys(df: pd.DataFrame, columns: list[str], numeric: set[str] | None = None) -> np.ndarray:
    """A hash per row that ignores the dtype (the generator emits int 2 where real rows
    hold float 2.0) and the kind of missing value (NaN or None). `numeric` columns (default:
    those of a numeric dtype) hash as floats, the rest as text: formatting every float as
    text took most of the synthetic gate's copy checks."""
    numeric = {c for c in columns if _is_number(df[c])} if numeric is None else numeric
    parts = {}
    for col in columns:
        values = df[col]
        if col in numeric:
            parts[col] = values.astype(float) + 0.0  # -0.0 and 0.0 alike; NaN for every missing value
        else:
            parts[col] = values.astype(str).where(values.notna(), "<NA>")
    return pd.util.hash_pandas_object(pd.DataFrame(parts, index=df.index), index=False).to_numpy()
