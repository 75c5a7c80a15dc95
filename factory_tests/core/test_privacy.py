"""Privacy attacks on real hotel rows: a copy of the training rows is singled out,
linked and inferred and fails; rows the generator never saw (fresh real rows) do not;
an attack no better than random is inconclusive, never a pass."""

from __future__ import annotations

from math import sqrt

import pytest

from factory.core.base.dataset import exact_copies
from factory.core.base.spec import replace
from factory.core.gate.privacy import attack_result, run_attacks
from factory.core.gate.quality import SliceMetrics, inconclusive

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spec(hotel_spec):
    return replace(hotel_spec, gate=replace(hotel_spec.gate, privacy_attacks=300))


@pytest.fixture(scope="module")
def parts(hotel_reference, hotel_spec):
    """Disjoint real samples: training rows, a control set and fresh rows (fresh rows
    equal to a training row dropped, as the gate does)."""
    rows = hotel_reference.sample(3000, random_state=5).reset_index(drop=True)
    train, control, fresh = (rows.iloc[i : i + 1000].reset_index(drop=True) for i in (0, 1000, 2000))
    fresh = fresh[~exact_copies(fresh, train, list(hotel_spec.features))].reset_index(drop=True)
    return train, control, fresh


def by_name(results):
    return {a.attack: a for a in results}


def test_a_copy_of_the_training_rows_is_singled_out_linked_and_inferred(parts, spec):
    train, control, _ = parts
    attacks = by_name(run_attacks(train, control, train.copy(), spec))
    assert set(attacks) == {"singling_out_univariate", "singling_out_multivariate", "linkability", "inference"}
    for name in ("singling_out_univariate", "linkability", "inference"):
        a = attacks[name]
        assert a.verdict == "fail", a
        assert a.risk_low > 0.3 and a.attack_rate > a.control_rate and a.attack_rate > a.baseline_rate
    assert attacks["singling_out_multivariate"].risk > 0.2


def test_rows_the_generator_never_saw_carry_no_risk(parts, spec):
    train, control, fresh = parts
    attacks = by_name(run_attacks(train, control, fresh, spec))
    assert all(a.verdict != "fail" for a in attacks.values()), attacks
    assert all(a.risk_low <= 0.1 for a in attacks.values())
    # the attacks themselves work on fresh rows (better than random), they just gain nothing from membership
    assert (
        attacks["inference"].verdict == "pass" and attacks["inference"].attack_rate > attacks["inference"].baseline_rate
    )


def test_an_attack_no_better_than_random_is_inconclusive(parts, spec):
    train, control, fresh = parts
    constant = fresh.assign(**{spec.target: 0.0})  # the nearest synthetic row and a random one guess the same label
    inference = by_name(run_attacks(train, control, constant, spec))["inference"]
    assert inference.attack_rate == pytest.approx(inference.baseline_rate)
    assert inference.verdict == "inconclusive"
    metrics = SliceMetrics("overall", "all rows", len(train), len(constant), attacks=(inference,))
    (line,) = inconclusive(metrics)
    assert line.startswith("inference_risk on overall: inconclusive:") and "not above the random baseline" in line


def test_risk_is_the_excess_over_the_control_with_wilson_intervals():
    z2 = 1.959964**2
    wilson = lambda k, n: ((k + z2 / 2) / (n + z2), 1.959964 / (n + z2) * sqrt(k * (n - k) / n + z2 / 4))  # noqa: E731
    (a, da), (c, dc) = wilson(300, 500), wilson(100, 500)
    r = attack_result("inference", 500, successes=300, control=100, baseline=50, threshold=0.1)
    assert r.risk == pytest.approx((a - c) / (1 - c))
    err = sqrt((da / (1 - c)) ** 2 + (dc * (a - 1) / (1 - c) ** 2) ** 2)
    assert (r.risk_low, r.risk_high) == pytest.approx((r.risk - err, r.risk + err))
    assert r.verdict == "fail"
    assert attack_result("inference", 500, 300, 290, 50, threshold=0.1).verdict == "pass"  # no better than the control
    assert attack_result("inference", 500, 300, 100, 50, threshold=None).verdict == "pass"  # reported, not judged
    assert attack_result("inference", 500, 40, 10, 60, threshold=0.1).verdict == "inconclusive"  # below random guessing
