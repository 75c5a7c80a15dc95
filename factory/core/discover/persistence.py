"""Blind spots across batches: the stored table, recurrence (a join on the stable id)
and persistence (a slice's lift on the next labelled batch, written as a new table).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd

from factory.core.base.types import BlindSpot, Condition
from factory.core.discover.scan import METRIC_LABEL


def _stub(conditions: tuple[Condition, ...]) -> BlindSpot:
    return BlindSpot(conditions, "", 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def predicate_id(conditions: tuple[Condition, ...]) -> str:
    """The id a blind spot with these conditions has."""
    return _stub(conditions).id


def recurrence_counts(history: Iterable[pd.DataFrame]) -> dict[str, int]:
    """How many earlier batches reported each blind-spot id (a join on the stable id).
    The id names the predicate, not the metric: a region that failed as a miss slice
    last month and as an error slice now is one region failing again."""
    counts: dict[str, int] = {}
    for table in history:
        if table is None or not len(table) or "blind_spot_id" not in table.columns:
            continue
        for spot_id in set(table["blind_spot_id"]):
            counts[spot_id] = counts.get(spot_id, 0) + 1
    return counts


def slice_lift(spot: BlindSpot, labelled: pd.DataFrame, errors: np.ndarray, target: str) -> float | None:
    """The lift of a slice's metric on another labelled set (None when the slice has
    none of the metric's rows there)."""
    errors = np.asarray(errors, dtype=float)
    label = METRIC_LABEL[spot.metric]
    rows = np.ones(len(errors), dtype=bool) if label is None else labelled[target].to_numpy(dtype=float) == label
    mask = spot.mask(labelled).to_numpy() & rows
    overall = errors[rows].mean() if rows.any() else 0.0
    if not mask.any() or overall == 0:
        return None
    return float(errors[mask].mean() / overall)


def table_conditions(text: str) -> tuple[Condition, ...]:
    """The predicate of a stored blind-spot row (its `conditions` column) as data."""
    return tuple(Condition(**c) for c in json.loads(text))


def persistence_table(
    earlier: pd.DataFrame, labelled: pd.DataFrame, errors: np.ndarray, target: str, measured_on: str
) -> pd.DataFrame:
    """An earlier batch's stored blind spots with `persistence` filled in: each slice's
    lift (of its own metric) on a later labelled batch (`measured_on`). A new table:
    the earlier one is never rewritten."""
    out = earlier.copy()
    metrics = out["metric"] if "metric" in out.columns else pd.Series("error", index=out.index)
    lifts = [
        slice_lift(replace(_stub(table_conditions(c)), metric=m), labelled, errors, target)
        for c, m in zip(out["conditions"], metrics)
    ]
    out["persistence"] = pd.Series(lifts, index=out.index, dtype=float)
    out["measured_on"] = measured_on
    return out


def with_persistence(
    spots: Iterable[BlindSpot], next_labelled: pd.DataFrame, next_errors: np.ndarray, target: str
) -> tuple[BlindSpot, ...]:
    """Persistence: each reported slice's lift (of its own metric) on the next labelled batch."""
    return tuple(replace(s, persistence=slice_lift(s, next_labelled, next_errors, target)) for s in spots)


TABLE_COLUMNS = [
    "batch_id",
    "blind_spot_id",
    "predicate",
    "kind",
    "support",
    "errors",
    "error_rate",
    "error_low",
    "error_high",
    "overall_error",
    "lift",
    "p_value",
    "positive_share",
    "train_support",
    "conditions",
    "deficit",
    "lift_shrunk",
    "score",
    "recurrence",
    "persistence",
    "metric",
    "replication",
]


def blind_spot_table(spots: tuple[BlindSpot, ...] | list[BlindSpot], batch_id: str) -> pd.DataFrame:
    rows = [dict(batch_id=batch_id, **s.as_row()) for s in spots]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["persistence"] = table["persistence"].astype(float)
    table["replication"] = table["replication"].astype(float)
    return table
