"""The bad batches of benchmarks/reliability.py: each builds the bytes a bad export would
land, from a real clean batch, and says what the factory must do with them.

`expect`: "reject" (quarantined, a corrected file lands as a new revision), "hold" (values
that would poison training: quarantined until an operator accepts), "blocked" (either of
those), "flag" (passes with a warning code) or "pass" (the data is fine as it is).
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory.core.base.spec import DatasetSpec


@dataclass(frozen=True)
class World:
    """What a builder may use: the spec, the clean batch, its neighbours, the row limit."""

    spec: DatasetSpec
    clean: pd.DataFrame
    before: pd.DataFrame  # the previous batch's rows
    after: pd.DataFrame  # the next batch's rows
    older: pd.DataFrame  # the rows of a batch older than the newest validated one
    max_rows: int
    reference: pd.DataFrame  # the reference rows (for drift)


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    expect: str
    build: Callable[[World, str], tuple[bytes, str]]  # (world, format) -> (bytes, format)
    formats: tuple[str, ...] = ("csv", "parquet")


def sep_of(spec: DatasetSpec) -> str:
    """The separator the spec reads CSV files with (bank: ';')."""
    return spec.source.options.get("sep", ",")


def encode(df: pd.DataFrame, fmt: str, sep: str = ",") -> tuple[bytes, str]:
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue(), fmt
    return df.to_csv(index=False, sep=sep).encode(), "csv"


def _frame(change: Callable[[World, pd.DataFrame], pd.DataFrame]) -> Callable[[World, str], tuple[bytes, str]]:
    return lambda w, fmt: encode(change(w, w.clean.copy()), fmt, sep_of(w.spec))


def _num(w: World) -> str:
    """A numeric feature that varies and is no time column (the one a bad export scales)."""
    time = set(w.spec.time_columns)
    return next(c for c in w.spec.numeric if c not in time and w.clean[c].nunique() > 5)


def _cat(w: World) -> str:
    time = set(w.spec.time_columns)
    return next(c for c in w.spec.categorical if c not in time and 2 < w.clean[c].nunique() < 30)


def _rule_column(w: World) -> str:
    return re.match(r"\s*(\w+)\s*>=", w.spec.rules[0])[1]


def _some(df: pd.DataFrame, share: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(len(df)) < share


def _set(df: pd.DataFrame, col: str, mask: np.ndarray, value) -> pd.DataFrame:
    df[col] = df[col].astype(object)
    df.loc[mask, col] = value
    return df


def _csv(text: Callable[[World], bytes]) -> Callable[[World, str], tuple[bytes, str]]:
    return lambda w, fmt: (text(w), "csv")


def _other_csv(w: World) -> str:
    """The clean batch written with the separator the spec does not read."""
    return w.clean.to_csv(index=False, sep="," if sep_of(w.spec) == ";" else ";")


def _clean_csv(w: World) -> str:
    return w.clean.to_csv(index=False, sep=sep_of(w.spec))


def _truncated(w: World, fmt: str) -> tuple[bytes, str]:
    data, _ = encode(w.clean, "parquet")
    return data[: len(data) // 2], "parquet"


def _too_large(w: World, fmt: str) -> tuple[bytes, str]:
    copies = w.max_rows // len(w.clean) + 2
    return encode(pd.concat([w.clean] * copies, ignore_index=True), fmt, sep_of(w.spec))


def _bomb(w: World, fmt: str) -> tuple[bytes, str]:
    """200 MB of one repeated line, gzip-compressed to a few hundred KB, named .csv."""
    header = ",".join(w.clean.columns) + "\n"
    return gzip.compress((header + ("0," * 100 + "\n") * 1_000_000).encode(), compresslevel=1), "csv"


def _time_from(source: str, share: float) -> Callable[[World, pd.DataFrame], pd.DataFrame]:
    """Some rows' time columns taken from the previous (another time zone) or next batch (the future)."""

    def change(w: World, df: pd.DataFrame) -> pd.DataFrame:
        other = w.before if source == "before" else w.after
        mask = _some(df, share, 1)
        for col in w.spec.time_columns:
            df[col] = df[col].astype(object)
            df.loc[mask, col] = (
                other[col].iloc[: mask.sum()].to_numpy() if len(other) >= mask.sum() else other[col].iloc[0]
            )
        return df

    return change


def _time_unit(w: World, df: pd.DataFrame) -> pd.DataFrame:
    col = w.spec.time.year or w.spec.time.month
    df[col] = 1_475_280_000_000  # epoch milliseconds where a year (or month) belongs
    return df


def _booleans(w: World, df: pd.DataFrame) -> pd.DataFrame:
    """The label coded three ways at once (yes / true / 1)."""
    codes = np.array(["yes", "true", "1"], dtype=object)
    df[w.spec.target] = codes[np.arange(len(df)) % 3]
    return df


def _explosion(w: World, df: pd.DataFrame) -> pd.DataFrame:
    col = _cat(w)
    df[col] = [f"code-{i}" for i in range(len(df))]
    return df


def _drifted(w: World, df: pd.DataFrame) -> pd.DataFrame:
    """Every numeric feature shifted by two reference standard deviations: within range, but drifted."""
    for col in w.spec.numeric:
        if col in w.spec.time_columns or not pd.api.types.is_numeric_dtype(df[col]):
            continue
        ref = w.reference[col].dropna()
        if ref.nunique() > 10:
            df[col] = (df[col] + 0.5 * ref.std()).clip(upper=ref.max()).astype(df[col].dtype, errors="ignore")
    return df


def _many(w: World, df: pd.DataFrame) -> pd.DataFrame:
    """Every reference row and four batches' worth more, all dated in this batch's period (a
    backfill of the whole history): more than gate.row_count_ratio (10) mean reference batches
    and fewer than gate.max_size_ratio (20) largest ones, so flagged, not refused. Four batches
    alone (bank: about 1,600 rows against a mean reference month of 3,093) were not."""
    rows = pd.concat([w.reference[df.columns], df, w.before, w.after, w.older], ignore_index=True)
    for col in w.spec.time_columns:
        rows[col] = np.resize(df[col].to_numpy(), len(rows))
    return rows


CASES: list[Case] = [
    # -- file ---------------------------------------------------------------------------------
    Case("zero_bytes", "file", "reject", lambda w, fmt: (b"", fmt)),
    Case("truncated_parquet", "file", "reject", _truncated, ("parquet",)),
    Case("html_error_page", "file", "reject", lambda w, fmt: (b"<!DOCTYPE html><html><body>502</body></html>", fmt)),
    Case(
        "git_lfs_pointer",
        "file",
        "reject",
        lambda w, fmt: (b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1234\n", fmt),
    ),
    Case("wrong_delimiter", "file", "reject", _csv(lambda w: _other_csv(w).encode()), ("csv",)),
    Case("utf16_encoding", "file", "reject", _csv(lambda w: _clean_csv(w).encode("utf-16")), ("csv",)),
    Case("utf8_bom", "file", "pass", _csv(lambda w: _clean_csv(w).encode("utf-8-sig")), ("csv",)),
    Case("header_only", "file", "reject", lambda w, fmt: encode(w.clean.head(0), fmt, sep_of(w.spec))),
    Case(
        "repeated_header",
        "file",
        "reject",
        _csv(lambda w: (_clean_csv(w) + _clean_csv(w.__class__(**{**w.__dict__, "clean": w.clean.head(5)}))).encode()),
        ("csv",),
    ),
    Case(
        "duplicated_column_name",
        "file",
        "reject",
        _csv(lambda w: _clean_csv(w).replace(w.clean.columns[1], w.clean.columns[0], 1).encode()),
        ("csv",),
    ),
    Case("gzip_named_csv", "file", "reject", _csv(lambda w: gzip.compress(_clean_csv(w).encode())), ("csv",)),
    Case("parquet_named_csv", "file", "reject", _csv(lambda w: encode(w.clean, "parquet")[0]), ("csv",)),
    Case("decompression_bomb", "file", "reject", _bomb, ("csv",)),
    Case("far_larger_than_any_batch", "file", "reject", _too_large),
    Case(
        "row_with_extra_fields",
        "file",
        "reject",
        _csv(lambda w: (_clean_csv(w) + sep_of(w.spec).join(["1"] * (len(w.clean.columns) + 3)) + "\n").encode()),
        ("csv",),
    ),
    # -- schema -------------------------------------------------------------------------------
    Case("missing_column", "schema", "reject", _frame(lambda w, df: df.drop(columns=[_num(w)]))),
    Case("extra_column", "schema", "flag", _frame(lambda w, df: df.assign(export_note="x"))),
    Case("renamed_column", "schema", "reject", _frame(lambda w, df: df.rename(columns={_num(w): _num(w) + "_v2"}))),
    Case("reordered_columns", "schema", "flag", _frame(lambda w, df: df[list(df.columns[::-1])])),
    Case("numeric_column_of_strings", "schema", "reject", _frame(lambda w, df: df.assign(**{_num(w): "n/a"}))),
    Case("label_booleans_three_ways", "schema", "blocked", _frame(_booleans)),
    Case("timestamps_in_another_unit", "schema", "reject", _frame(_time_unit)),
    Case("time_zone_shift", "schema", "reject", _frame(_time_from("before", 0.1))),
    # -- values -------------------------------------------------------------------------------
    Case("non_finite_values", "values", "hold", _frame(lambda w, df: _set(df, _num(w), _some(df, 0.3), np.inf))),
    Case("scale_x1000", "values", "hold", _frame(lambda w, df: df.assign(**{_num(w): df[_num(w)] * 1000}))),
    Case("null_rate_spike", "values", "blocked", _frame(lambda w, df: _set(df, _num(w), _some(df, 0.6), None))),
    Case("column_all_null", "values", "reject", _frame(lambda w, df: _set(df, _num(w), _some(df, 1.0), None))),
    Case(
        "one_unseen_category",
        "values",
        "flag",
        _frame(lambda w, df: _set(df, _cat(w), _some(df, 0) | (df.index == df.index[0]), "Atlantis")),
    ),
    Case(
        "category_recoded",
        "values",
        "reject",
        _frame(lambda w, df: df.assign(**{_cat(w): df[_cat(w)].astype(str) + "_v2"})),
    ),
    Case("category_count_explosion", "values", "blocked", _frame(_explosion)),
    Case("rows_landed_twice", "values", "hold", _frame(lambda w, df: pd.concat([df, df], ignore_index=True))),
    Case(
        "cross_field_rule_broken",
        "values",
        "blocked",
        _frame(lambda w, df: _set(df, _rule_column(w), _some(df, 0.5), -1)),
    ),
    Case(
        "constant_label",
        "values",
        "hold",
        _frame(lambda w, df: df.assign(**{w.spec.target: df[w.spec.target].iloc[0]})),
    ),
    Case("dates_in_the_future", "values", "reject", _frame(_time_from("after", 0.1))),
    Case(
        "formula_injection",
        "values",
        "reject",
        _frame(lambda w, df: _set(df, _cat(w), df.index == df.index[0], '=HYPERLINK("http://x")')),
    ),
    Case(
        "non_finite_nan_only",
        "values",
        "pass",
        _frame(lambda w, df: _set(df, _num(w), df.index == df.index[0], np.nan)),
    ),
    # -- dataset ------------------------------------------------------------------------------
    Case("five_rows", "dataset", "hold", _frame(lambda w, df: df.head(5))),
    Case("row_count_far_above", "dataset", "flag", _frame(lambda w, df: _many(w, df))),
    Case("same_bytes_under_another_id", "dataset", "reject", lambda w, fmt: encode(w.before, fmt, sep_of(w.spec))),
    Case("out_of_order_batch_id", "dataset", "hold", lambda w, fmt: encode(w.older, fmt, sep_of(w.spec))),
    Case("drift_above_threshold", "dataset", "pass", _frame(_drifted)),
    Case("clean", "dataset", "pass", lambda w, fmt: encode(w.clean, fmt, sep_of(w.spec))),
]
