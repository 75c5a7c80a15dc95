"""Blind-spot discovery on small synthetic frames whose error pattern is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.profile import profile_reference
from factory.core.base.spec import BlindSpotSettings, replace
from factory.core.base.types import BlindSpot, Condition
from factory.core.discover.error_slices import find_blind_spots
from factory.core.discover.persistence import blind_spot_table
from factory.core.discover.ranking import children_counts as _children_counts
from factory_tests.core.toy import toy_spec

N = 4000

SPEC = toy_spec()


def frame(seed: int, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lead_time": rng.integers(0, 300, n).astype(float),
            "adr": rng.normal(100, 25, n).round(2),
            "hotel": rng.choice(["Resort Hotel", "City Hotel"], n),
            "meal": rng.choice(["BB", "HB", "SC"], n, p=[0.6, 0.3, 0.1]),
            "y": rng.integers(0, 2, n).astype(float),
        }
    )


@pytest.fixture(scope="module")
def profile():
    return profile_reference(frame(seed=1), SPEC)


@pytest.fixture(scope="module")
def top_bin(profile):
    """lead_time's highest reference bin: [last edge, inf)."""
    return profile.column("lead_time").bin_edges[-1]


def planted(df: pd.DataFrame, top_bin: float) -> pd.Series:
    return (df["hotel"] == "Resort Hotel") & (df["lead_time"] >= top_bin)


def test_planted_slice_is_found_first(profile, top_bin):
    df = frame(seed=2)
    rng = np.random.default_rng(3)
    inside = planted(df, top_bin).to_numpy()
    errors = np.where(inside, rng.random(N) < 0.6, rng.random(N) < 0.05).astype(int)

    result = find_blind_spots(df, errors, SPEC, profile)

    assert result.blind_spots, result.reason
    assert result.reason == ""
    assert result.tested > 0 and result.significant >= len(result.blind_spots)
    first = result.blind_spots[0]
    mask = first.mask(df).to_numpy()
    overlap = (mask & inside).sum()
    assert overlap / mask.sum() > 0.9  # the slice reported lies inside the planted one ...
    assert overlap / inside.sum() > 0.9  # ... and covers most of it
    assert {c.column for c in first.conditions} == {"hotel", "lead_time"}
    assert Condition("hotel", "==", "Resort Hotel") in first.conditions
    assert Condition("lead_time", ">=", float(top_bin)) in first.conditions
    # conditions follow the profile's column order (numeric columns first)
    assert first.predicate == f"lead_time >= {top_bin:g} AND hotel = 'Resort Hotel'"
    assert first.kind == "error"
    assert first.support == int(mask.sum())
    assert first.errors == int(errors[mask].sum())
    assert first.error_low < first.error_rate < first.error_high
    assert first.lift > 4
    assert first.p_value < 1e-6
    assert first.overall_error == pytest.approx(errors.mean())
    assert first.positive_share == pytest.approx(df.loc[mask, "y"].mean())


def test_planted_single_column_slice_is_not_split(profile):
    df = frame(seed=4)
    rng = np.random.default_rng(5)
    inside = (df["meal"] == "SC").to_numpy()
    errors = np.where(inside, rng.random(N) < 0.5, rng.random(N) < 0.05).astype(int)

    spots = find_blind_spots(df, errors, SPEC, profile).blind_spots

    assert spots[0].predicate == "meal = 'SC'"
    # its two-condition children are explained by it and never reported
    assert not any(
        any(c == Condition("meal", "==", "SC") for c in s.conditions) and len(s.conditions) > 1 for s in spots
    )


def exact_errors(masks_rates: list[tuple[np.ndarray, float]], seed: int) -> np.ndarray:
    """Exactly round(rate x rows) errors in each (disjoint) mask, on random rows."""
    rng, errors = np.random.default_rng(seed), np.zeros(N, dtype=int)
    for mask, rate in masks_rates:
        idx = np.flatnonzero(mask)
        errors[rng.choice(idx, int(round(rate * len(idx))), replace=False)] = 1
    return errors


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_child_worse_than_its_parent_is_reported_beside_it(profile, top_bin, seed):
    """meal = 'HB' errs at 3x the base rate, and within it long lead times at 5x: the
    child is not explained by its parent, so both are reported. Tested against every
    significant slice (about 50) instead of the parent's own children, the child's
    excess over its parent did not count."""
    df = frame(seed=20 + seed)
    parent = (df["meal"] == "HB").to_numpy()
    child = parent & (df["lead_time"] >= top_bin).to_numpy()
    errors = exact_errors([(child, 0.25), (parent & ~child, 0.15), (~parent, 0.05)], seed)

    predicates = [s.predicate for s in find_blind_spots(df, errors, SPEC, profile).blind_spots]

    assert predicates[:2] == [f"lead_time >= {top_bin:g} AND meal = 'HB'", "meal = 'HB'"]


def test_children_are_counted_per_parent_and_metric():
    a, b, c = Condition("meal", "==", "SC"), Condition("lead_time", ">=", 100.0), Condition("hotel", "==", "City Hotel")
    counts = _children_counts([("error", (b, a)), ("error", (b, a, c)), ("miss", (b, a))])
    assert counts[("error", (a,))] == 2 and counts[("error", (b,))] == 2 and counts[("error", (c,))] == 1
    assert counts[("error", (b, a))] == 1 and counts[("miss", (a,))] == 1
    assert ("error", (b, a, c)) not in counts  # nothing refines it


def test_train_support_counts_reference_rows(profile):
    df = frame(seed=4)
    rng = np.random.default_rng(5)
    errors = np.where(df["meal"] == "SC", rng.random(N) < 0.5, rng.random(N) < 0.05).astype(int)
    reference = frame(seed=1)
    spot = find_blind_spots(df, errors, SPEC, profile, reference=reference).blind_spots[0]
    assert spot.train_support == int((reference["meal"] == "SC").sum())


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_uniform_errors_give_no_blind_spots(profile, seed):
    df = frame(seed=seed)
    errors = (np.random.default_rng(seed + 100).random(N) < 0.15).astype(int)

    result = find_blind_spots(df, errors, SPEC, profile)

    assert result.blind_spots == ()
    assert result.significant == 0
    assert result.tested > 0
    assert result.reason == "no slice's error rate is significantly above the overall rate"


def test_no_labelled_rows(profile):
    result = find_blind_spots(frame(seed=2).iloc[:0], np.array([], dtype=int), SPEC, profile)
    assert result.blind_spots == ()
    assert result.reason == "no labelled rows"


def test_too_few_labelled_rows(profile):
    result = find_blind_spots(frame(seed=2, n=40), np.ones(40, dtype=int), SPEC, profile)
    assert result.blind_spots == ()
    assert "only 40 labelled rows" in result.reason


def test_all_correct_predictions(profile):
    result = find_blind_spots(frame(seed=2), np.zeros(N, dtype=int), SPEC, profile)
    assert result.blind_spots == ()
    assert result.reason == "the model made no errors on this batch"


def test_max_slices_is_respected(profile, top_bin):
    df = frame(seed=6)
    rng = np.random.default_rng(7)
    hard = (df["meal"] == "SC") | (df["lead_time"] >= top_bin) | (df["adr"] < 70)
    errors = np.where(hard, rng.random(N) < 0.5, rng.random(N) < 0.03).astype(int)

    spec = replace(SPEC, blind_spots=BlindSpotSettings(max_slices=2))
    spots = find_blind_spots(df, errors, spec, profile).blind_spots
    per_metric = [sum(s.metric == m for s in spots) for m in spec.blind_spots.metrics]
    assert per_metric[0] == 2 and max(per_metric) == 2  # each metric its own top 2


def spot(*conditions: Condition, support: int = 100) -> BlindSpot:
    return BlindSpot(
        conditions=tuple(conditions),
        kind="error",
        support=support,
        errors=40,
        error_rate=0.4,
        error_low=0.3,
        error_high=0.5,
        overall_error=0.1,
        lift=4.0,
        p_value=1e-9,
        positive_share=0.5,
    )


def test_blind_spot_id_is_stable_for_the_same_predicate():
    a = spot(Condition("hotel", "==", "Resort Hotel"), Condition("lead_time", ">=", 120.0))
    b = spot(Condition("hotel", "==", "Resort Hotel"), Condition("lead_time", ">=", 120.0), support=999)
    c = spot(Condition("hotel", "==", "City Hotel"), Condition("lead_time", ">=", 120.0))
    assert a.id == b.id  # statistics differ, the predicate does not
    assert a.id != c.id
    assert len(a.id) == 10
    assert a.id == spot(Condition("hotel", "==", "Resort Hotel"), Condition("lead_time", ">=", np.float64(120.0))).id


def test_predicate_text_is_readable():
    assert Condition("hotel", "==", "Resort Hotel").text() == "hotel = 'Resort Hotel'"
    assert Condition("lead_time", ">=", 120.0).text() == "lead_time >= 120"
    assert Condition("adr", "<", 74.5).text() == "adr < 74.5"
    assert Condition("agent", "is_null").text() == "agent IS NULL"
    s = spot(Condition("lead_time", ">=", 35.0), Condition("lead_time", "<", 80.0))
    assert s.predicate == "lead_time >= 35 AND lead_time < 80"


def test_blind_spot_mask_and_table():
    df = pd.DataFrame(
        {"hotel": ["Resort Hotel", "City Hotel", "Resort Hotel", None], "lead_time": [200.0, 300.0, 10.0, 250.0]}
    )
    s = spot(Condition("hotel", "==", "Resort Hotel"), Condition("lead_time", ">=", 120.0))
    assert s.mask(df).tolist() == [True, False, False, False]
    assert Condition("hotel", "is_null").mask(df).tolist() == [False, False, False, True]
    table = blind_spot_table([s], "2016-07")
    assert table.loc[0, "blind_spot_id"] == s.id
    assert table.loc[0, "predicate"] == s.predicate
    assert table.loc[0, "batch_id"] == "2016-07"
