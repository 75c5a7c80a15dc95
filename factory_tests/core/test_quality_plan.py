"""A targeted batch sets its label mix per blind spot on purpose: the gate judges label
fidelity and utility at that mix, so real rows drawn at the plan's mix pass, the
factory's generator passes, and a batch that flips or flattens the label relationship
(labels shuffled, or each class's rows given the other label) still fails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import exact_copies
from factory.core.base.types import BlindSpot, Condition
from factory.core.gate.quality import evaluate_synthetic
from factory.core.measure.labelgaps import label_gap_low
from factory.core.synth.choice import generate
from factory.core.synth.plan import SliceRequest

pytestmark = pytest.mark.slow

MIX = 0.75  # the plan's share of positives; the slice's history holds ~0.42
ROWS = 600
SPOT = BlindSpot(
    conditions=(Condition("hotel", "==", "City Hotel"),),
    kind="error",
    support=500,
    errors=200,
    error_rate=0.4,
    error_low=0.35,
    error_high=0.45,
    overall_error=0.2,
    lift=2.0,
    p_value=1e-9,
    positive_share=MIX,
)


@pytest.fixture(scope="module")
def parts(hotel_reference, hotel_spec):
    """Disjoint real samples: training rows, holdout rows, a pool of fresh rows."""
    rows = hotel_reference.sample(20000, random_state=3).reset_index(drop=True)
    train, holdout, pool = rows.iloc[:5000], rows.iloc[5000:7000], rows.iloc[7000:]
    pool = pool[~exact_copies(pool, train, list(hotel_spec.features))]
    return train.reset_index(drop=True), holdout.reset_index(drop=True), pool.reset_index(drop=True)


@pytest.fixture(scope="module")
def at_plan_mix(parts, hotel_spec):
    """Fresh real rows of the slice at the plan's mix: what a perfect generator returns."""
    _, _, pool = parts
    city = pool[SPOT.mask(pool)]
    y = city[hotel_spec.target]
    positives, negatives = int(round(ROWS * MIX)), ROWS - int(round(ROWS * MIX))
    rows = pd.concat([city[y == 1].sample(positives, random_state=0), city[y == 0].sample(negatives, random_state=0)])
    return rows.assign(_blind_spot_id=SPOT.id).reset_index(drop=True)


def label_or_utility_failures(report):
    return [f for f in report.failures if f.startswith(("label_gap_low", "tstr_ratio"))]


def test_real_rows_at_the_plans_label_mix_pass(parts, at_plan_mix, hotel_spec):
    train, holdout, _ = parts
    # unweighted, the plan's mix alone would look like a broken label relationship
    assert label_gap_low(train[SPOT.mask(train)], at_plan_mix, hotel_spec) > 0.1
    report = evaluate_synthetic("b", at_plan_mix, train, holdout, hotel_spec, [SPOT])
    overall = report.slices[0]
    assert report.passed, report.failures
    assert overall.label_gap_low <= 0.1 and overall.tstr_ratio >= 0.9


@pytest.mark.parametrize("damage", ["shuffled", "swapped"])
def test_a_batch_that_flattens_or_flips_the_label_relationship_fails(parts, at_plan_mix, hotel_spec, damage):
    train, holdout, _ = parts
    y = at_plan_mix[hotel_spec.target]
    broken = at_plan_mix.assign(
        **{hotel_spec.target: np.random.default_rng(0).permutation(y.to_numpy()) if damage == "shuffled" else 1.0 - y}
    )
    report = evaluate_synthetic("b", broken, train, holdout, hotel_spec, [SPOT])
    text = " | ".join(report.failures)
    assert "label_gap_low on overall:" in text and "(spec gate.max_label_gap)" in text
    assert "tstr_ratio on overall:" in text


def test_the_factorys_generator_passes_at_a_skewed_plan(parts, hotel_spec):
    train, holdout, _ = parts
    rows, failures = generate(train, [SliceRequest(SPOT, ROWS, int(round(ROWS * MIX)))], hotel_spec, None, cycle="b")
    assert not failures and rows[hotel_spec.target].mean() == pytest.approx(MIX, abs=0.01)
    rows = rows[~exact_copies(rows, train, list(hotel_spec.features))]  # the gate's row checks drop copies first
    report = evaluate_synthetic("b", rows, train, holdout, hotel_spec, [SPOT])
    assert not label_or_utility_failures(report), report.failures
    assert report.slices[0].label_gap_low <= 0.1
