"""Targeted synthesis: the plan shares the budget; generated rows stay inside their
blind spot, carry their lineage, and repeat exactly for the same seed."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from factory.core.dataset import BATCH
from factory.core.spec import replace
from factory.core.synthesis import SliceRequest, generate, plan_generation
from factory.core.types import BlindSpot, Condition
from factory.core.validation import LINEAGE_COLUMNS

CYCLE = "2016-08"


def spot(*conditions: Condition, support: int = 200, lift: float = 2.0, positive_share: float = 0.4) -> BlindSpot:
    return BlindSpot(
        conditions=tuple(conditions), kind="error", support=support, errors=int(support * 0.4),
        error_rate=0.4, error_low=0.3, error_high=0.5, overall_error=0.2, lift=lift, p_value=1e-9,
        positive_share=positive_share,
    )


def with_synthesis(spec, **changes):
    return replace(spec, synthesis=dataclasses.replace(spec.synthesis, **changes))


# -- plan_generation -------------------------------------------------------------

def test_plan_respects_the_budget_and_shares_by_excess_errors(hotel_spec):
    spec = with_synthesis(hotel_spec, synthetic_share=0.1, max_rows_per_slice=10_000)
    a = spot(Condition("hotel", "==", "Resort Hotel"), support=100, lift=3.0)  # excess 200
    b = spot(Condition("meal", "==", "HB"), support=100, lift=2.0)  # excess 100
    plan = plan_generation([a, b], real_rows=3000, spec=spec)  # budget 300
    assert [r.blind_spot.id for r in plan] == [a.id, b.id]
    assert [r.rows for r in plan] == [200, 100]
    assert sum(r.rows for r in plan) <= 300


def test_plan_caps_rows_per_slice(hotel_spec):
    spec = with_synthesis(hotel_spec, synthetic_share=0.5, max_rows_per_slice=150)
    spots = [spot(Condition("hotel", "==", "Resort Hotel"), lift=3.0), spot(Condition("meal", "==", "HB"), lift=1.5)]
    plan = plan_generation(spots, real_rows=10_000, spec=spec)  # budget 5000
    assert [r.rows for r in plan] == [150, 150]


def test_plan_label_mix_follows_the_slice(hotel_spec):
    spec = with_synthesis(hotel_spec, synthetic_share=0.1, max_rows_per_slice=1000)
    plan = plan_generation([spot(Condition("hotel", "==", "Resort Hotel"), positive_share=0.25)], 2000, spec)
    assert plan[0].rows == 200
    assert plan[0].positives == 50


def test_plan_skips_null_slices_and_empty_budgets(hotel_spec):
    spec = with_synthesis(hotel_spec, synthetic_share=0.1)
    null_spot = spot(Condition("agent", "is_null"))
    assert plan_generation([null_spot], 10_000, spec) == []
    assert plan_generation([], 10_000, spec) == []
    assert plan_generation([spot(Condition("hotel", "==", "Resort Hotel"))], 5, spec) == []  # budget 0
    assert plan_generation([spot(Condition("hotel", "==", "Resort Hotel"))], 10_000, with_synthesis(hotel_spec, synthetic_share=0.0)) == []


def test_plan_drops_slices_whose_share_rounds_to_nothing(hotel_spec):
    spec = with_synthesis(hotel_spec, synthetic_share=0.01, max_rows_per_slice=1000)
    big = spot(Condition("hotel", "==", "Resort Hotel"), support=10_000, lift=3.0)
    tiny = spot(Condition("meal", "==", "HB"), support=30, lift=1.01)
    plan = plan_generation([big, tiny], 1000, spec)  # budget 10
    assert [r.blind_spot.id for r in plan] == [big.id]
    assert all(r.rows > 0 for r in plan)


# -- generate on real hotel rows --------------------------------------------------

@pytest.fixture(scope="module")
def real(hotel_reference):
    return hotel_reference.sample(6000, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def spots(hotel_profile):
    lead = hotel_profile.column("lead_time").bin_edges
    adr = hotel_profile.column("adr").bin_edges
    return [
        spot(Condition("market_segment", "==", "Groups")),  # categorical equality
        spot(Condition("lead_time", ">=", float(lead[1])), Condition("lead_time", "<", float(lead[2]))),  # numeric range
        spot(Condition("hotel", "==", "Resort Hotel"), Condition("adr", ">=", float(adr[-1]))),  # a conjunction
    ]


@pytest.fixture(scope="module")
def plan(spots):
    return [SliceRequest(s, rows=40, positives=16) for s in spots]


@pytest.fixture(scope="module")
def generated(real, plan, hotel_spec, hotel_profile):
    return generate(real, plan, hotel_spec, hotel_profile, cycle=CYCLE, seed=3)


def test_every_row_satisfies_its_blind_spot(generated, spots):
    rows, failures = generated
    assert failures == []
    assert len(rows) == 120
    for s in spots:
        mine = rows[rows["_blind_spot_id"] == s.id]
        assert len(mine) == 40, s.predicate
        assert s.mask(mine).all(), s.predicate
        assert int(mine["is_canceled"].sum()) == 16  # the requested label mix, exactly


def test_rows_carry_lineage(generated, real, hotel_spec):
    rows, _ = generated
    for col in LINEAGE_COLUMNS:
        assert col in rows.columns, col
        assert rows[col].notna().all(), col
    assert rows["_synthetic"].all()
    assert (rows["_cycle"] == CYCLE).all() and (rows[BATCH] == CYCLE).all()
    assert (rows["_seed"] == 3).all()
    assert rows["_generator"].nunique() == 1 and rows["_generator_version"].nunique() == 1
    assert rows["_fitted_on"].nunique() == 1
    assert set(rows[hotel_spec.target].unique()) <= {0.0, 1.0}


def test_rows_have_every_feature_in_its_reference_form(generated, hotel_spec, hotel_profile):
    rows, _ = generated
    assert set(hotel_spec.features) <= set(rows.columns)
    for col in hotel_spec.integer:
        assert (rows[col].dropna() == rows[col].dropna().round()).all(), col
    for col in ("hotel", "meal", "market_segment", "deposit_type"):
        assert set(rows[col].dropna()) <= set(hotel_profile.column(col).categories), col


def test_same_seed_gives_identical_rows(generated, real, plan, hotel_spec, hotel_profile):
    again, _ = generate(real, plan, hotel_spec, hotel_profile, cycle=CYCLE, seed=3)
    pd.testing.assert_frame_equal(generated[0], again)


def test_empty_plan_generates_nothing(real, hotel_spec, hotel_profile):
    rows, failures = generate(real, [], hotel_spec, hotel_profile, cycle=CYCLE)
    assert rows.empty and failures == []
