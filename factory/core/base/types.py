"""Frozen dataclasses passed between stages. A stage never reaches into another's
internals: what it needs from upstream arrives as one of these, or as a frame."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ColumnProfile:
    """Reference statistics of one column, computed once per reference snapshot."""

    name: str
    kind: str  # "numeric" | "categorical"
    null_share: float
    min: float | None = None
    max: float | None = None
    bin_edges: tuple[float, ...] = ()  # inner quantile cut points (numeric)
    bin_shares: tuple[float, ...] = ()  # reference share per bin, len(bin_edges) + 1
    categories: tuple[str, ...] = ()  # reference categories, most frequent first
    category_shares: tuple[float, ...] = ()
    # drift sketch (fast path): non-null count, moments, exact value counts when the
    # column has few distinct values, else a fine quantile sketch of the reference
    count: int = 0
    mean: float | None = None
    std: float | None = None
    values: tuple = ()  # distinct values (floats, or strings for categoricals)
    counts: tuple[int, ...] = ()
    quantiles: tuple[float, ...] = ()  # sketch points: exact extremes, then quantiles of the middle
    quantile_weights: tuple[float, ...] = ()  # reference rows each sketch point stands for


@dataclass(frozen=True)
class ReferenceProfile:
    rows: int
    content_hash: str
    columns: tuple[ColumnProfile, ...]
    positive_rate: float

    def column(self, name: str) -> ColumnProfile:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class ValidationOutcome:
    """What a gate decided about a batch: blocking failures stop it, warnings do not."""

    batch_id: str
    rows: int
    passed: bool
    expectations: int
    failures: tuple[str, ...] = ()  # blocking: "column 'x': rule: detail"
    warnings: tuple[str, ...] = ()
    rows_dropped: int = 0  # row-level gates (synthetic batches)
    report_uri: str = ""


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    test: str
    score: float
    threshold: float
    drifted: bool
    note: str = ""  # why a column got a verdict without a test (empty, unseen categories)
    reference_summary: str = ""
    current_summary: str = ""
    reference_null_share: float | None = None
    current_null_share: float | None = None


@dataclass(frozen=True)
class DriftReport:
    batch_id: str
    rows: int
    drift_share: float
    drifted_columns: tuple[str, ...]
    columns: tuple[ColumnDrift, ...]
    report_uri: str = ""
    mean_score: float = 0.0  # champion's mean predicted positive probability on the batch
    estimated_auc: float | None = None  # label-free estimate from calibrated scores
    seconds: float = 0.0  # time the per-column tests took
    domain_auc: float | None = None  # multivariate drift: ROC AUC of a reference-vs-batch classifier
    domain_features: tuple[str, ...] = ()  # the features that separate them most ("name (gain share)")


@dataclass(frozen=True)
class PerformanceEstimate:
    """Label-free estimate of a batch's performance from calibrated probabilities (CBPE),
    with 95% intervals; `realised_*` filled in once the batch's labels arrive."""

    rows: int
    auc: float | None
    auc_low: float | None
    auc_high: float | None
    f1: float | None
    f1_low: float | None
    f1_high: float | None
    recall: float | None
    recall_low: float | None
    recall_high: float | None
    expected_positive_rate: float
    realised_auc: float | None = None
    realised_f1: float | None = None
    realised_recall: float | None = None


@dataclass(frozen=True)
class Condition:
    """One clause of a blind-spot predicate: column op value."""

    column: str
    op: str  # "==" | ">=" | "<" | "is_null"
    value: Any = None

    def mask(self, df: pd.DataFrame) -> pd.Series:
        col = df[self.column]
        if self.op == "==":
            return (col == self.value).fillna(False).astype(bool)
        if self.op == ">=":
            return (col >= self.value).fillna(False).astype(bool)
        if self.op == "<":
            return (col < self.value).fillna(False).astype(bool)
        if self.op == "is_null":
            return col.isna()
        raise ValueError(f"unknown operator {self.op!r}")

    def text(self) -> str:
        if self.op == "is_null":
            return f"{self.column} IS NULL"
        value = f"'{self.value}'" if isinstance(self.value, str) else f"{self.value:g}"
        return f"{self.column} {'=' if self.op == '==' else self.op} {value}"


def conditions_mask(conditions: tuple[Condition, ...], df: pd.DataFrame) -> pd.Series:
    """True for rows that satisfy every condition (every row when there is none)."""
    m = pd.Series(True, index=df.index)
    for c in conditions:
        m &= c.mask(df)
    return m


def union_mask(df: pd.DataFrame, spots: list[BlindSpot] | tuple[BlindSpot, ...]) -> np.ndarray:
    """True for rows inside any of the blind spots."""
    inside = np.zeros(len(df), dtype=bool)
    for spot in spots:
        inside |= spot.mask(df).to_numpy()
    return inside


@dataclass(frozen=True)
class BlindSpot:
    """A readable slice where the model fails (error) or has never been (coverage)."""

    conditions: tuple[Condition, ...]
    kind: str  # "error" | "coverage" | "low_confidence"
    support: int  # rows of the batch it was found on
    errors: int
    error_rate: float
    error_low: float  # 95% interval of the error rate
    error_high: float
    overall_error: float
    lift: float
    p_value: float
    positive_share: float  # label mix synthesis aims for
    train_support: int = 0
    deficit: int = 0  # training rows it lacks relative to its production share (coverage)
    lift_shrunk: float = 0.0  # lift shrunk toward 1 by sample size (empirical Bayes): the ranking key
    score: float = 0.0  # SliceLine score: error lift and size together
    recurrence: int = 0  # earlier batches that reported the same predicate (same id)
    persistence: float | None = None  # its lift on the next labelled batch, once known
    # error slices: what errors, error_rate, overall_error and lift count: "error" (all the
    # slice's rows), "miss" (its positives the model missed), "false_alarm" (negatives it flagged)
    metric: str = "error"
    replication: float | None = None  # error slices: probability a fresh sample of its size shows its lift again

    @property
    def id(self) -> str:
        """Stable across cycles for the same predicate."""
        key = json.dumps([[c.column, c.op, c.value] for c in self.conditions], default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:10]

    @property
    def predicate(self) -> str:
        return " AND ".join(c.text() for c in self.conditions)

    def mask(self, df: pd.DataFrame) -> pd.Series:
        return conditions_mask(self.conditions, df)

    def as_row(self) -> dict[str, Any]:
        row = {k: v for k, v in asdict(self).items() if k != "conditions"}
        row.update(blind_spot_id=self.id, predicate=self.predicate)
        row["conditions"] = json.dumps([asdict(c) for c in self.conditions], default=str)
        return row


@dataclass(frozen=True)
class SpotScores:
    """One model's metrics inside one blind spot, each with its bootstrap 95% interval:
    the union of the blind spots can cover most of a batch, a single spot does not."""

    blind_spot_id: str
    metric: str  # the blind spot's error metric (or kind, for label-free spots)
    predicate: str
    rows: int
    positives: int
    auc: float | None = None
    auc_low: float | None = None
    auc_high: float | None = None
    pr_auc: float | None = None
    pr_auc_low: float | None = None
    pr_auc_high: float | None = None
    f1: float | None = None
    f1_low: float | None = None
    f1_high: float | None = None
    recall: float | None = None
    recall_low: float | None = None
    recall_high: float | None = None


@dataclass(frozen=True)
class ModelScores:
    """Metrics of one model on one real labelled set, overall and inside the blind spots."""

    model: str
    rows: int
    auc: float | None
    f1: float | None
    recall: float | None
    bs_rows: int = 0
    bs_auc: float | None = None
    bs_f1: float | None = None
    auc_low: float | None = None
    auc_high: float | None = None
    bs_auc_low: float | None = None
    bs_auc_high: float | None = None
    pr_auc: float | None = None
    brier: float | None = None
    bs_pr_auc: float | None = None
    bs_recall: float | None = None
    f1_low: float | None = None
    f1_high: float | None = None
    bs_f1_low: float | None = None
    bs_f1_high: float | None = None
    pr_auc_low: float | None = None
    pr_auc_high: float | None = None
    recall_low: float | None = None
    recall_high: float | None = None
    brier_low: float | None = None
    brier_high: float | None = None
    bs_pr_auc_low: float | None = None
    bs_pr_auc_high: float | None = None
    bs_recall_low: float | None = None
    bs_recall_high: float | None = None
    spots: tuple[SpotScores, ...] = ()  # each blind spot on its own


@dataclass(frozen=True)
class Comparison:
    """Challenger minus champion on the same real rows, with paired bootstrap 95% intervals."""

    rows: int
    bs_rows: int
    auc_diff: float | None
    auc_diff_low: float | None
    auc_diff_high: float | None
    bs_auc_diff: float | None
    bs_auc_diff_low: float | None
    bs_auc_diff_high: float | None


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    champion_version: str | None
    challenger_version: str | None


@dataclass(frozen=True)
class CycleRow:
    """One printed line of a replay: what the factory saw and did for one batch."""

    batch: str
    rows: int
    drift_share: float
    blind_spots: int
    synthetic_accepted: int
    champion_auc: float | None
    challenger_auc: float | None
    champion_bs_f1: float | None
    challenger_bs_f1: float | None
    promoted: bool
    synthetic_used: bool
    seconds: float
    note: str = ""
    synthetic_note: str = ""  # why the challenger used no synthetic rows (not planned, rejected, not kept)
    recipe: str = ""  # the challenger's recipe
    policy: str = ""  # who decided the promotion: the gate or the judge's fallback
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step of the run


def plain(value: Any) -> Any:
    """numpy scalars and containers to plain Python (Dagster metadata, JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def metrics_dict(obj: Any) -> dict[str, Any]:
    return plain(asdict(obj)) if hasattr(obj, "__dataclass_fields__") else plain(dict(obj))
