"""Targeted synthesis: the plan wants rows by deficit and lift within its caps; generated rows stay inside their
blind spot, carry their lineage, and repeat exactly for the same seed."""

from __future__ import annotations

import pandas as pd
import pytest

from factory.core.base.dataset import BATCH
from factory.core.base.spec import replace
from factory.core.base.types import BlindSpot, Condition
from factory.core.gate.synthetic import LINEAGE_COLUMNS
from factory.core.synth.choice import generate
from factory.core.synth.plan import SliceRequest, plan_generation

CYCLE = "2016-08"


def spot(
    *conditions: Condition,
    support: int = 200,
    lift: float = 2.0,
    positive_share: float = 0.4,
    kind: str = "error",
    deficit: int = 0,
) -> BlindSpot:
    return BlindSpot(
        conditions=tuple(conditions),
        kind=kind,
        support=support,
        errors=int(support * 0.4),
        error_rate=0.4,
        error_low=0.3,
        error_high=0.5,
        overall_error=0.2,
        lift=lift,
        p_value=1e-9,
        positive_share=positive_share,
        deficit=deficit,
    )


def with_synthesis(spec, **changes):
    return replace(spec, synthesis=replace(spec.synthesis, **changes))


# -- plan_generation -------------------------------------------------------------

UNCAPPED = dict(synthetic_share=1.0, max_rows_per_slice=100_000, max_slice_share=1.0)


def test_plan_wants_the_deficit_of_a_coverage_gap_and_the_excess_errors_of_an_error_slice(hotel_spec):
    gap = spot(Condition("hotel", "==", "Resort Hotel"), kind="coverage", support=50, lift=8.0, deficit=300)
    error = spot(Condition("meal", "==", "HB"), support=100, lift=3.0)  # support x (lift - 1) = 200
    plan = plan_generation([gap, error], real_rows=10_000, spec=with_synthesis(hotel_spec, **UNCAPPED))
    assert [(r.blind_spot.id, r.want, r.rows) for r in plan.slices] == [(gap.id, 300, 300), (error.id, 200, 200)]
    assert plan.requests == list(plan.slices) and plan.rows == 500 and plan.reason == ""


def test_plan_scales_every_slice_down_to_the_overall_share(hotel_spec):
    spec = with_synthesis(hotel_spec, **UNCAPPED | dict(synthetic_share=0.01))
    spots = [
        spot(Condition("hotel", "==", "Resort Hotel"), support=100, lift=3.0),
        spot(Condition("meal", "==", "HB"), support=100, lift=2.0),
    ]
    plan = plan_generation(spots, real_rows=15_000, spec=spec)  # budget 150 for wants 200 + 100
    assert plan.budget == 150 and [r.rows for r in plan.slices] == [100, 50]
    assert all("scaled by 0.50 to the budget of 150" in r.why for r in plan.slices)


def test_plan_caps_hold_per_slice_and_in_total(hotel_spec):
    spots = [
        spot(Condition("hotel", "==", "Resort Hotel"), support=1000, lift=3.0),
        spot(Condition("meal", "==", "HB"), support=100, lift=2.0),
    ]
    per_slice = plan_generation(spots, 10_000, with_synthesis(hotel_spec, **UNCAPPED | dict(max_rows_per_slice=150)))
    assert [r.rows for r in per_slice.slices] == [150, 100] and "capped at 150 per slice" in per_slice.slices[0].why
    by_share = plan_generation(spots, 10_000, with_synthesis(hotel_spec, **UNCAPPED | dict(max_slice_share=0.012)))
    assert by_share.slice_cap == 120 and [r.rows for r in by_share.slices] == [120, 100]
    total = plan_generation(
        spots, 10_000, with_synthesis(hotel_spec, **UNCAPPED | dict(max_rows=1050))
    )  # wants 2000 + 100
    assert total.budget == 1050 and total.rows <= 1050 and [r.rows for r in total.slices] == [1000, 50]


def test_plan_label_mix_follows_the_slice_unless_the_spec_sets_it(hotel_spec):
    s = spot(Condition("hotel", "==", "Resort Hotel"), support=200, lift=2.0, positive_share=0.25)
    assert plan_generation([s], 10_000, with_synthesis(hotel_spec, **UNCAPPED)).slices[0].positives == 50
    assert (
        plan_generation([s], 10_000, with_synthesis(hotel_spec, **UNCAPPED | dict(positive_share=0.5)))
        .slices[0]
        .positives
        == 100
    )


def test_plan_skips_null_slices_and_slices_that_want_nothing_and_says_why(hotel_spec):
    null_spot, flat = spot(Condition("agent", "is_null")), spot(Condition("meal", "==", "HB"), lift=1.0)
    plan = plan_generation([null_spot, flat, spot(Condition("hotel", "==", "Resort Hotel"))], 10_000, hotel_spec)
    assert [r.rows for r in plan.slices] == [0, 0, 200] and len(plan.requests) == 1
    assert "IS NULL" in plan.slices[0].why and "wants no rows" in plan.slices[1].why
    assert plan.table()[0]["why"] == plan.slices[0].why


def test_an_empty_plan_says_why(hotel_spec):
    empty = plan_generation([], 10_000, hotel_spec)
    assert empty.slices == () and empty.requests == [] and empty.rows == 0 and "no blind spots" in empty.reason
    broke = plan_generation(
        [spot(Condition("hotel", "==", "Resort Hotel"))], 10_000, with_synthesis(hotel_spec, synthetic_share=0.0)
    )
    assert broke.rows == 0 and "budget is 0" in broke.reason
    assert "IS NULL" in plan_generation([spot(Condition("agent", "is_null"))], 10_000, hotel_spec).slices[0].why


def test_plan_drops_slices_whose_share_rounds_to_nothing(hotel_spec):
    spec = with_synthesis(hotel_spec, **UNCAPPED | dict(synthetic_share=0.01))
    big = spot(Condition("hotel", "==", "Resort Hotel"), support=10_000, lift=3.0)
    tiny = spot(Condition("meal", "==", "HB"), support=30, lift=1.1)
    plan = plan_generation([big, tiny], 1000, spec)  # budget 10
    assert [r.blind_spot.id for r in plan.requests] == [big.id]
    assert plan.slices[1].rows == 0 and "rounds to 0 rows" in plan.slices[1].why


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
        spot(
            Condition("lead_time", ">=", float(lead[1])), Condition("lead_time", "<", float(lead[2]))
        ),  # numeric range
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


def test_numeric_values_are_new_between_real_neighbours_and_integers_stay_whole(generated, real, hotel_spec, spots):
    """The copula's numeric marginals draw new values inside the empirical CDF's steps
    (smoothing): a value between equal neighbours (prices repeat) stays a heavy mode, the
    rest are no real row's. Integer columns are rounded back to whole numbers and every
    row still satisfies its slice."""
    generated, _ = generated
    seen = set(real["adr"].dropna())
    assert (~generated["adr"].dropna().isin(seen)).mean() > 0.2  # resampling real values gives 0 (prices repeat)
    for col in hotel_spec.integer:
        values = generated[col].dropna()
        assert (values == values.round()).all(), col
    assert generated["adr"].between(real["adr"].min(), real["adr"].max()).all()
    for s in spots:
        assert s.mask(generated[generated["_blind_spot_id"] == s.id]).all()
