"""Values between stages as versioned JSON: every asset output type round-trips, and
anything else (a pickle, another format, a class the reader does not expect) is refused."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import asdict

import numpy as np
import pytest

from factory.core.base import codec
from factory.core.base.errors import RefusedValue
from factory.core.base.types import (
    BlindSpot,
    ColumnDrift,
    Comparison,
    Condition,
    DriftReport,
    ModelScores,
    SpotScores,
    ValidationOutcome,
)
from factory.core.discover.scan import SliceSearch
from factory.core.flywheel.retraining import Challenger, Evaluation
from factory.core.flywheel.synthesis import SyntheticBatch
from factory.core.synth.plan import GenerationPlan, SliceRequest

SPOT = BlindSpot(
    conditions=(Condition("hotel", "==", "City"), Condition("lead_time", ">=", 120.5), Condition("agent", "is_null")),
    kind="error",
    support=412,
    errors=97,
    error_rate=0.235,
    error_low=0.19,
    error_high=0.28,
    overall_error=0.14,
    lift=1.68,
    p_value=3e-9,
    positive_share=0.4,
    persistence=None,
    metric="miss",
    replication=0.93,
)
SPOT_SCORES = SpotScores(SPOT.id, "miss", SPOT.predicate, 200, 80, auc=0.71, auc_low=0.64, auc_high=0.78)
SCORES = ModelScores("champion", 5000, auc=0.86, f1=0.7, recall=None, bs_auc=0.72, spots=(SPOT_SCORES,))
COMPARISON = Comparison(5000, 900, 0.01, -0.002, 0.02, None, None, None)
CANDIDATES = ({"recipe": "recency", "auc": 0.86, "bs_auc": None, "spots": (asdict(SPOT_SCORES),)},)
CHALLENGER = Challenger("3", "abc123", "recency", CANDIDATES, True, 800, "pooled", 0.01, -0.001, SCORES, SCORES,
                        COMPARISON, 2400, 12)  # fmt: skip

VALUES = [
    ValidationOutcome("2016-03", 4000, True, 31, failures=(), warnings=("column 'adr': 2 rows above max",)),
    DriftReport(
        "2016-03",
        4000,
        0.25,
        ("lead_time",),
        (ColumnDrift("lead_time", "numeric", "wasserstein", 0.2, 0.1, True, current_null_share=None),),
        estimated_auc=None,
        domain_features=("lead_time (0.41 gain share)",),
    ),
    SliceSearch((SPOT, BlindSpot((), "coverage", 0, 0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.5, deficit=120)), 340, 12),
    SliceSearch((), 0, 0, reason="no labelled batch yet"),
    GenerationPlan((SliceRequest(SPOT, 300, 120, want=410, why="excess errors"),), 12000, 1200, 600),
    SyntheticBatch(
        "synthetic/2016-03/ab12.parquet", 300, 300, (), ({"predicate": SPOT.predicate, "rows": 300},), {"x": [1, 2]}
    ),
    CHALLENGER,
    Evaluation("2", "3", SCORES, SCORES, None, SCORES, COMPARISON),
    {"lightgbm": {"gate": asdict(SCORES), "backtest": None}, "frozen": {"gate": None}},
    {"promoted": True, "reason": "blind-spot ROC AUC +0.03"},
    "synthetic/2016-03/ab12.accepted.parquet",
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_every_asset_value_round_trips_to_an_equal_object(value):
    back = codec.loads(codec.dumps(value), type(value))
    assert back == value
    assert type(back) is type(value)


def test_tuples_stay_tuples_and_none_stays_none():
    back = codec.loads(codec.dumps(SliceSearch((SPOT,), 3, 1)), SliceSearch)
    assert isinstance(back.blind_spots, tuple) and isinstance(back.blind_spots[0].conditions, tuple)
    assert back.blind_spots[0].conditions[2].value is None and back.blind_spots[0].persistence is None
    assert back.blind_spots[0].id == SPOT.id  # the id is a hash of the conditions: same values, same types
    challenger = codec.loads(codec.dumps(CHALLENGER), Challenger)
    assert isinstance(challenger.candidates[0]["spots"], tuple)  # a tuple inside a plain dict, too
    assert isinstance(challenger.candidates[0]["spots"][0], dict)  # asdict() made it a dict: it stays one


def test_nan_and_infinities_survive_as_strict_json():
    value = {"auc": float("nan"), "lift": float("inf"), "low": -math.inf, "n": np.int64(3), "ok": np.bool_(True)}
    data = codec.dumps(value)
    json.loads(data, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    back = codec.loads(data, dict)
    assert math.isnan(back["auc"]) and back["lift"] == math.inf and back["low"] == -math.inf
    assert back["n"] == 3 and back["ok"] is True
    report = codec.loads(codec.dumps(DriftReport("b", 1, float("nan"), (), ())), DriftReport)
    assert math.isnan(report.drift_share)


def test_the_file_carries_type_name_and_format_version():
    envelope = json.loads(codec.dumps(CHALLENGER))
    assert (envelope["format"], envelope["version"], envelope["type"]) == (codec.FORMAT, codec.VERSION, "Challenger")


class Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle executed')",))


def test_a_pickle_is_refused_never_executed():
    with pytest.raises(RefusedValue, match="pickle.*re-materialise"):
        codec.loads(pickle.dumps(Boom()), dict)


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"value": 1}, "envelope"),
        ({"format": codec.FORMAT, "version": 0, "type": "dict", "value": {}}, "version 0"),
        ({"format": codec.FORMAT, "version": codec.VERSION, "type": "Challenger", "value": {}}, "'dict' is expected"),
    ],
)
def test_other_formats_versions_and_types_are_refused(payload, message):
    with pytest.raises(RefusedValue, match=message):
        codec.loads(json.dumps(payload).encode(), dict)


def test_a_file_can_only_build_classes_the_expected_type_reaches():
    envelope = json.loads(codec.dumps({"x": 1}))
    envelope["value"] = {"x": {"$type": "Challenger", "version": "1"}}  # a dict holds no dataclass
    with pytest.raises(RefusedValue, match="'Challenger'"):
        codec.loads(json.dumps(envelope).encode(), dict)
    assert set(codec.reachable(Evaluation)) == {"Evaluation", "ModelScores", "SpotScores", "Comparison"}
    stale = json.loads(codec.dumps(CHALLENGER))
    stale["value"]["renamed_field"] = 1
    with pytest.raises(RefusedValue, match="other fields"):
        codec.loads(json.dumps(stale).encode(), Challenger)


def test_values_json_cannot_hold_are_named():
    with pytest.raises(TypeError, match=r"value\['rows'\]: a ndarray"):
        codec.dumps({"rows": np.zeros(3)})
