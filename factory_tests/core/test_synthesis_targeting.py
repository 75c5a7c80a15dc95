"""Targeted synthesis in latent space: every predicate shape holds exactly, rare slices
do not fail, impossible ones are named, business rules hold, the fitted generator is
cached by the content of its real rows, and label fidelity is measured."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import content_hash
from factory.core.base.errors import SpecError, SynthesisError
from factory.core.base.plane import DataPlane
from factory.core.base.spec import replace
from factory.core.base.storage import Storage
from factory.core.base.types import BlindSpot, Condition
from factory.core.measure.labelgaps import label_fidelity_gaps
from factory.core.synth.choice import fit_generator, generate
from factory.core.synth.codec import rules_hold
from factory.core.synth.plan import SliceRequest
from factory_tests.conftest import Planted

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


def with_synthesis(spec, **changes):
    return replace(spec, synthesis=replace(spec.synthesis, **changes))


@pytest.fixture(scope="module")
def real(hotel_reference):
    return hotel_reference.sample(8000, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def generator(real, hotel_spec):
    return fit_generator(real, hotel_spec)[0]


def rare_value(real: pd.DataFrame, column: str, rows: int) -> str:
    """A category held by about `rows` rows (both classes present)."""
    counts = real[column].value_counts()
    for value, n in counts.sort_values().items():
        part = real[real[column] == value]["is_canceled"]
        if n >= rows and part.nunique() == 2:
            return value
    raise AssertionError("no such value")


def shapes(real: pd.DataFrame, hotel_profile) -> list[BlindSpot]:
    lead = hotel_profile.column("lead_time").bin_edges
    adr = hotel_profile.column("adr").bin_edges
    return [
        spot(Condition("deposit_type", "==", "Non Refund")),  # categorical equality
        spot(Condition("lead_time", ">=", float(lead[1])), Condition("lead_time", "<", float(lead[2]))),  # closed range
        spot(Condition("adr", ">=", float(adr[-1]))),  # open range, upper tail
        spot(Condition("lead_time", "<", float(lead[0]))),  # open range, lower tail
        spot(Condition("total_of_special_requests", "==", 0.0)),  # equality on a heavy integer mode
        spot(Condition("agent", "is_null")),  # missing values
        spot(
            Condition("hotel", "==", "Resort Hotel"),
            Condition("meal", "==", "HB"),
            Condition("adr", ">=", float(adr[1])),
            Condition("adr", "<", float(adr[2])),
            positive_share=1.0,
        ),  # 3 clauses + label
        spot(Condition("country", "==", rare_value(real, "country", 4))),  # ~0.05% prevalence
    ]


def test_every_predicate_shape_holds_on_every_row(real, generator, hotel_spec, hotel_profile):
    for i, s in enumerate(shapes(real, hotel_profile)):
        positives = 50 if s.positive_share == 1.0 else 20
        rows = generator.sample_slice(SliceRequest(s, rows=50, positives=positives), seed=i)
        assert len(rows) == 50, s.predicate
        assert s.mask(rows).all(), s.predicate
        assert int(rows[hotel_spec.target].sum()) == positives, s.predicate
        assert rules_hold(rows, hotel_spec.rules).all(), s.predicate
        for col in hotel_spec.integer:
            assert (rows[col].dropna() == rows[col].dropna().round()).all(), col


def test_conditioned_rows_are_not_copies_of_one_real_row(real, generator, hotel_profile):
    s = shapes(real, hotel_profile)[-1]  # the rarest slice: few real rows to copy from
    rows = generator.sample_slice(SliceRequest(s, rows=200, positives=80), seed=0)
    assert rows.drop_duplicates().shape[0] > 100


def test_generate_carries_deterministic_lineage(real, hotel_spec, hotel_profile):
    plan = [SliceRequest(s, rows=30, positives=12) for s in shapes(real, hotel_profile)[:3]]
    first, failures = generate(real, plan, hotel_spec, hotel_profile, cycle=CYCLE, seed=5)
    again, _ = generate(real, plan, hotel_spec, hotel_profile, cycle=CYCLE, seed=5)
    other, _ = generate(real, plan, hotel_spec, hotel_profile, cycle=CYCLE, seed=6)
    assert failures == []
    pd.testing.assert_frame_equal(first, again)
    assert not first[list(hotel_spec.features)].equals(other[list(hotel_spec.features)])
    assert (first["_seed"] == 5).all() and (first["_generator"] == "gaussian_copula").all()
    assert (first["_fitted_on"] == content_hash(real[list(hotel_spec.features) + [hotel_spec.target]])).all()
    assert list(first["_blind_spot_id"].unique()) == [r.blind_spot.id for r in plan]


def test_impossible_predicates_name_their_blind_spot(real, generator, hotel_spec, hotel_profile):
    empty_range = spot(Condition("lead_time", ">=", 100.0), Condition("lead_time", "<", 50.0))
    unseen = spot(Condition("meal", "==", "Caviar"))
    for s in (empty_range, unseen):
        with pytest.raises(SynthesisError, match=s.id):
            generator.sample_slice(SliceRequest(s, rows=10, positives=4), seed=0)
    rows, failures = generate(
        real,
        [SliceRequest(unseen, 10, 4), SliceRequest(spot(Condition("meal", "==", "HB")), 10, 4)],
        hotel_spec,
        hotel_profile,
        cycle=CYCLE,
    )
    assert len(failures) == 1 and unseen.id in failures[0] and "impossible" in failures[0]
    assert len(rows) == 10  # the other slice is still generated


def test_business_rules_hold_even_when_they_cut_deep(real, hotel_spec):
    spec = replace(
        hotel_spec, rules=hotel_spec.rules + ("adults >= 2", "stays_in_week_nights + stays_in_weekend_nights >= 3")
    )
    gen, _ = fit_generator(real, spec)
    rows = gen.sample_slice(SliceRequest(spot(Condition("hotel", "==", "City Hotel")), rows=300, positives=120), seed=0)
    assert len(rows) == 300
    assert rules_hold(rows, spec.rules).all()


def test_fitted_generator_is_cached_by_data_content(real, hotel_spec, tmp_path):
    plane = DataPlane(Storage(str(tmp_path / "root")), hotel_spec)
    first, reused = fit_generator(real, hotel_spec, plane)
    assert not reused
    assert len(plane.storage.list("generators")) == 1
    second, reused = fit_generator(real.copy(), hotel_spec, plane)
    assert reused and second.fitted_on == first.fitted_on
    changed = real.iloc[:-1]
    third, reused = fit_generator(changed, hotel_spec, plane)
    assert not reused and third.fitted_on != first.fitted_on
    assert len(plane.storage.list("generators")) == 2
    # generate() goes through the same cache and its rows say what they were fitted on
    plan = [SliceRequest(spot(Condition("meal", "==", "HB")), 20, 8)]
    rows, _ = generate(changed, plan, hotel_spec, None, cycle=CYCLE, plane=plane)
    assert (rows["_fitted_on"] == third.fitted_on).all()
    assert len(plane.storage.list("generators")) == 2


def test_the_cache_holds_arrays_samples_the_same_rows_and_never_unpickles(real, hotel_spec, tmp_path):
    plane = DataPlane(Storage(str(tmp_path / "root")), hotel_spec)
    first, _ = fit_generator(real, hotel_spec, plane)
    (key,) = plane.storage.list("generators")
    assert key.endswith(".npz")
    with np.load(io.BytesIO(plane.storage.read_bytes(key)), allow_pickle=False) as npz:
        assert "meta" in npz.files and all(npz[name].dtype != object for name in npz.files)
    second, reused = fit_generator(real, hotel_spec, plane)
    assert reused
    request = SliceRequest(spot(Condition("meal", "==", "HB"), Condition("lead_time", ">=", 30.0)), 200, 80)
    pd.testing.assert_frame_equal(first.sample_slice(request, 5), second.sample_slice(request, 5))
    # a pickle planted under the cache's key, or an old .pkl beside it, is refitted over, never unpickled
    marker = tmp_path / "pickle-ran"
    plane.storage.write_bytes(key, pickle.dumps(Planted(marker)))
    plane.storage.write_bytes(key.removesuffix(".npz") + ".pkl", pickle.dumps(Planted(marker)))
    _, reused = fit_generator(real, hotel_spec, plane)
    assert not reused and not marker.exists()
    assert fit_generator(real, hotel_spec, plane)[1]  # the refit replaced the planted file


def test_unconditional_rows_keep_label_given_value(real, generator, hotel_spec):
    rows = generator.sample_slice(
        SliceRequest(spot(), rows=3 * len(real), positives=int(round(3 * real["is_canceled"].sum()))), seed=0
    )
    gaps = label_fidelity_gaps(real, rows, hotel_spec)
    assert len(gaps["per_value"]) > 10
    assert gaps["mean"] < 0.03
    # the strongest label relationship (FINDINGS.md: a joint copula flattened 0.99 to 0.5)
    assert gaps["per_value"]["deposit_type=Non Refund"] < 0.05


def test_label_fidelity_gaps_measure_flipped_labels(real, hotel_spec):
    same = label_fidelity_gaps(real, real, hotel_spec)
    assert same["max"] == 0.0 and same["mean"] == 0.0
    flipped = real.assign(is_canceled=1.0 - real["is_canceled"])
    assert label_fidelity_gaps(real, flipped, hotel_spec, min_rows=500)["max"] > 0.9


def test_unknown_generator_is_refused(hotel_spec):
    """Refused by the spec itself, before any fit: it names the key and the allowed generators."""
    with pytest.raises(SpecError, match="generator: Input should be 'gaussian_copula', .* got 'gan9000'"):
        with_synthesis(hotel_spec, generator="gan9000")


@pytest.mark.slow
def test_tvae_option_generates_inside_its_slice(real, hotel_spec):
    spec = with_synthesis(hotel_spec, generator="tvae", epochs=2, max_fit_seconds=60, max_sample_seconds=30)
    small = real.sample(600, random_state=0).reset_index(drop=True)
    gen, _ = fit_generator(small, spec)
    s = spot(Condition("hotel", "==", "City Hotel"))
    rows = gen.sample_slice(SliceRequest(s, rows=20, positives=8), seed=0)
    assert len(rows) == 20 and s.mask(rows).all() and int(rows["is_canceled"].sum()) == 8
    assert gen.name == "tvae"


def test_strata_keep_an_interaction_one_copula_flattens():
    """The label follows lead_time one way in City and the other way in Resort. With a
    copula per class and hotel (spec synthesis.strata) a City slice's positives keep
    their long lead times; rows of a slice on the stratum come from that stratum only."""
    from factory_tests.core.toy import toy_spec

    rng = np.random.default_rng(0)
    n = 4000
    hotel = rng.choice(["City", "Resort"], n).astype(object)
    lead = rng.integers(0, 300, n).astype(float)
    p = np.where((lead >= 150) == (hotel == "City"), 0.9, 0.1)
    real = pd.DataFrame(
        {
            "lead_time": lead,
            "adr": rng.gamma(4, 25, n).round(2),
            "hotel": hotel,
            "meal": rng.choice(["BB", "HB"], n).astype(object),
            "y": (rng.random(n) < p).astype(float),
        }
    )
    city = spot(Condition("hotel", "==", "City"), positive_share=1.0)
    long_share = {}
    for strata in ((), ("hotel",)):
        generator = fit_generator(real, with_synthesis(toy_spec(), strata=strata))[0]
        rows = generator.sample_slice(SliceRequest(city, 2000, 2000), seed=0)
        assert (rows["hotel"] == "City").all()
        long_share[strata] = (rows["lead_time"] >= 150).mean()
    real_share = (real[(real["hotel"] == "City") & (real["y"] == 1)]["lead_time"] >= 150).mean()
    assert abs(long_share[("hotel",)] - real_share) < 0.03
    assert abs(long_share[()] - real_share) > 0.1  # what the stratum fixes
