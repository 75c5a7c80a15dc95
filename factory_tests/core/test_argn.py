"""The autoregressive generator: every predicate shape holds exactly (numeric ranges
cutting through its bins, pooled rare categories, nulls, conjunctions with the label),
lineage repeats under a seed, impossible predicates are named, the cache serves it,
and `generator: auto` picks by measured fidelity and records why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import content_hash
from factory.core.base.errors import SynthesisError
from factory.core.base.plane import DataPlane
from factory.core.base.spec import replace
from factory.core.base.storage import Storage
from factory.core.base.types import BlindSpot, Condition
from factory.core.measure.labelgaps import label_fidelity_gaps
from factory.core.synth.choice import fit_generator, generate, generator_choice
from factory.core.synth.codec import rules_hold
from factory.core.synth.plan import SliceRequest
from factory_tests.core.toy import toy_spec

CYCLE = "2016-08"


def spot(*conditions: Condition, positive_share: float = 0.4) -> BlindSpot:
    return BlindSpot(
        conditions=tuple(conditions),
        kind="error",
        support=100,
        errors=40,
        error_rate=0.4,
        error_low=0.3,
        error_high=0.5,
        overall_error=0.2,
        lift=2.0,
        p_value=1e-9,
        positive_share=positive_share,
    )


def settings(spec, **changes):
    return replace(spec, synthesis=replace(spec.synthesis, **changes))


@pytest.fixture(scope="module")
def spec():
    base = replace(toy_spec(), integer=("lead_time",), rules=("lead_time >= 0",))
    return settings(base, generator="autoregressive", epochs=6, max_fit_seconds=300)


@pytest.fixture(scope="module")
def real():
    """3000 rows: a heavy integer mode, a rare category (pooled), nulls, a label that
    depends strongly on hotel and lead time."""
    rng = np.random.default_rng(0)
    n = 3000
    hotel = rng.choice(["City", "Resort"], n, p=[0.6, 0.4]).astype(object)
    hotel[:6] = "Castle"  # 6 rows: below the token threshold, pooled
    lead = np.where(rng.random(n) < 0.4, 0, rng.integers(1, 300, n)).astype(float)
    adr = np.round(rng.gamma(4, 25, n), 2)
    adr[rng.random(n) < 0.05] = np.nan
    meal = rng.choice(["BB", "HB", "FB"], n, p=[0.7, 0.2, 0.1]).astype(object)
    meal[rng.random(n) < 0.1] = None
    p = 0.1 + 0.6 * (hotel == "City") * (lead > 30) + 0.2 * (meal == "HB")
    return pd.DataFrame(
        {"lead_time": lead, "adr": adr, "hotel": hotel, "meal": meal, "y": (rng.random(n) < p).astype(float)}
    )


@pytest.fixture(scope="module")
def generator(real, spec):
    return fit_generator(real, spec)[0]


def shapes(real: pd.DataFrame) -> list[BlindSpot]:
    lo, hi = (
        float(real["lead_time"].quantile(0.43)) + 0.5,
        float(real["lead_time"].quantile(0.61)) - 0.5,
    )  # cut through bins
    adr_lo, adr_hi = (float(real["adr"].quantile(q)) + 0.001 for q in (0.3, 0.35))
    return [
        spot(Condition("hotel", "==", "Resort")),  # categorical equality
        spot(Condition("lead_time", ">=", lo), Condition("lead_time", "<", hi)),  # closed range inside bins
        spot(Condition("adr", ">=", float(real["adr"].quantile(0.97)))),  # open range, upper tail
        spot(Condition("lead_time", "<", 1.0)),  # open range, lower tail = the heavy mode
        spot(Condition("lead_time", "==", 0.0)),  # equality on the heavy mode
        spot(Condition("adr", "is_null")),  # missing numeric
        spot(Condition("meal", "is_null")),  # missing category
        spot(Condition("hotel", "==", "Castle")),  # a pooled rare category (0.2%)
        spot(
            Condition("hotel", "==", "City"),
            Condition("meal", "==", "HB"),
            Condition("adr", ">=", adr_lo),
            Condition("adr", "<", adr_hi),
            positive_share=1.0,
        ),  # 3 columns, a narrow range, the label
    ]


def test_every_predicate_shape_holds_on_every_row(real, generator, spec):
    for i, s in enumerate(shapes(real)):
        positives = 60 if s.positive_share == 1.0 else 24
        rows = generator.sample_slice(SliceRequest(s, rows=60, positives=positives), seed=i)
        assert len(rows) == 60, s.predicate
        assert s.mask(rows).all(), s.predicate
        assert int(rows["y"].sum()) == positives, s.predicate
        assert rules_hold(rows, spec.rules).all()
        assert (rows["lead_time"] == rows["lead_time"].round()).all()
        assert set(rows["hotel"].dropna()) <= set(real["hotel"])


def test_unconditional_rows_keep_marginals_and_label_given_value(real, generator, spec):
    rows = generator.sample_slice(SliceRequest(spot(), rows=3 * len(real), positives=int(3 * real["y"].sum())), seed=0)
    assert abs((rows["lead_time"] == 0).mean() - (real["lead_time"] == 0).mean()) < 0.05  # the heavy mode survives
    assert abs(rows["adr"].isna().mean() - real["adr"].isna().mean()) < 0.02
    gaps = label_fidelity_gaps(real, rows, spec)
    assert len(gaps["per_value"]) >= 5
    assert gaps["max"] < 0.1


def test_generate_carries_deterministic_lineage(real, spec):
    plan = [SliceRequest(s, rows=30, positives=12) for s in shapes(real)[:3]]
    first, failures = generate(real, plan, spec, None, cycle=CYCLE, seed=5)
    again, _ = generate(real, plan, spec, None, cycle=CYCLE, seed=5)
    other, _ = generate(real, plan, spec, None, cycle=CYCLE, seed=6)
    assert failures == []
    pd.testing.assert_frame_equal(first, again)
    assert not first[list(spec.features)].equals(other[list(spec.features)])
    assert (first["_generator"] == "autoregressive").all() and (first["_seed"] == 5).all()
    assert (first["_fitted_on"] == content_hash(real[list(spec.features) + ["y"]])).all()
    assert list(first["_blind_spot_id"].unique()) == [r.blind_spot.id for r in plan]


def test_impossible_predicates_name_their_blind_spot(real, generator, spec):
    empty_range = spot(Condition("lead_time", ">=", 100.0), Condition("lead_time", "<", 50.0))
    unseen = spot(Condition("meal", "==", "Caviar"))
    never_null = spot(Condition("lead_time", "is_null"))
    for s in (empty_range, unseen, never_null):
        with pytest.raises(SynthesisError, match=s.id):
            generator.sample_slice(SliceRequest(s, rows=10, positives=4), seed=0)
    rows, failures = generate(
        real,
        [SliceRequest(unseen, 10, 4), SliceRequest(spot(Condition("meal", "==", "HB")), 10, 4)],
        spec,
        None,
        cycle=CYCLE,
    )
    assert len(failures) == 1 and unseen.id in failures[0] and "impossible" in failures[0]
    assert len(rows) == 10


def test_fitted_generator_is_cached_and_samples_the_same(real, spec, tmp_path):
    plane = DataPlane(Storage(str(tmp_path / "root")), spec)
    first, reused = fit_generator(real, spec, plane)
    second, reused_again = fit_generator(real.copy(), spec, plane)
    assert not reused and reused_again
    request = SliceRequest(spot(Condition("hotel", "==", "City")), 40, 16)
    pd.testing.assert_frame_equal(first.sample_slice(request, 3), second.sample_slice(request, 3))
    _, reused = fit_generator(real.iloc[:-1], spec, plane)
    assert not reused


def test_auto_picks_a_generator_by_measured_fidelity_and_records_why(real, spec, tmp_path):
    auto = settings(spec, generator="auto")
    plane = DataPlane(Storage(str(tmp_path / "root")), spec)
    plan = [SliceRequest(spot(Condition("hotel", "==", "Resort")), 30, 12)]
    rows, failures = generate(real, plan, auto, None, cycle=CYCLE, plane=plane)
    choice = generator_choice(real, auto, plane)
    assert failures == []
    assert set(choice["candidates"]) == {"gaussian_copula", "autoregressive"}
    scores = {k: v["score"] for k, v in choice["candidates"].items()}
    assert choice["generator"] == min(scores, key=scores.get)
    for numbers in choice["candidates"].values():
        # both candidates learnt this data: the label depends strongly on hotel and lead time, so a
        # generator that flattened it shows gaps over 0.1; rows unlike the real ones show an AUC near 1
        # (measured here: gaps 0.01-0.03, discriminator 0.84)
        assert numbers["label_gap_max"] < 0.1 and numbers["discriminator_auc"] < 0.95
        assert numbers["score"] == pytest.approx(
            numbers["label_gap_max"] + abs(numbers["discriminator_auc"] - 0.5), abs=2e-4
        )
    assert (rows["_generator"] == choice["generator"]).all()
    assert any(k.endswith(".choice.json") for k in plane.storage.list("generators"))
    # the choice is cached by content: asking again reads it back
    assert generator_choice(real.copy(), auto, plane) == choice
    assert generator_choice(real, spec, plane) == {"generator": "autoregressive"}


@pytest.mark.slow
def test_label_fidelity_on_real_hotel_rows(hotel_reference, hotel_spec):
    real = (
        hotel_reference[hotel_reference[hotel_spec.target].notna()].sample(8000, random_state=1).reset_index(drop=True)
    )
    spec = settings(hotel_spec, generator="autoregressive", epochs=15, max_fit_seconds=120)
    generator, _ = fit_generator(real, spec)
    rows = generator.sample_slice(
        SliceRequest(spot(), rows=3 * len(real), positives=int(round(3 * real["is_canceled"].sum()))), seed=0
    )
    gaps = label_fidelity_gaps(real, rows, hotel_spec)
    assert len(gaps["per_value"]) > 10
    assert gaps["max"] <= 0.10 and gaps["mean"] <= 0.03
    assert gaps["per_value"]["deposit_type=Non Refund"] < 0.05  # FINDINGS.md: a joint copula flattened it to 0.5


def test_columns_generated_before_a_condition_follow_the_slice(spec):
    """hotel (a categorical, early in the canonical order) depends on lead_time (a numeric,
    late): conditioned on a lead-time range, the generated hotels must follow that range's
    real mix (0.9 City), not the mix given the label only (0.5)."""
    rng = np.random.default_rng(1)
    n = 8000
    lead = rng.integers(0, 300, n).astype(float)
    city = rng.random(n) < np.where(lead >= 150, 0.9, 0.1)
    real = pd.DataFrame(
        {
            "lead_time": lead,
            "adr": np.round(rng.gamma(4, 25, n), 2),
            "hotel": np.where(city, "City", "Resort").astype(object),
            "meal": rng.choice(["BB", "HB"], n).astype(object),
            "y": (rng.random(n) < 0.3).astype(float),
        }
    )
    generator = fit_generator(real, settings(spec, epochs=15))[0]
    for condition, city_share in (
        (Condition("lead_time", ">=", 150.0), 0.9),
        (Condition("lead_time", "<", 150.0), 0.1),
    ):
        rows = generator.sample_slice(SliceRequest(spot(condition), 1000, 300), seed=0)
        share = (rows["hotel"] == "City").mean()
        assert abs(share - city_share) < 0.15, (condition, share)  # a fixed order measured 0.5 here
