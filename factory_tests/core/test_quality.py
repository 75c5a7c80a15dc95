"""Fidelity and privacy verdicts on real hotel rows standing in for synthetic ones:
a fresh real sample passes, a label-flipped one and a memorised one fail and say
which metric, which slice, the value and the threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import exact_copies
from factory.core.base.spec import replace
from factory.core.base.types import BlindSpot, Condition
from factory.core.gate.quality import WEIGHT, evaluate_synthetic, tstr
from factory.core.gate.quality_page import to_html
from factory.core.measure.labelgaps import label_fidelity_gaps, label_gap_low
from factory.core.measure.twosample import discriminator_columns, sliced_two_sample_auc

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
    positive_share=0.4,
)


@pytest.fixture(scope="module")
def spec(hotel_spec):
    """Small samples keep the file fast; the thresholds are the spec's defaults."""
    return replace(hotel_spec, gate=replace(hotel_spec.gate, sample_rows=500))


@pytest.fixture(scope="module")
def parts(hotel_reference, hotel_spec):
    """Disjoint real samples: training rows, holdout rows, and fresh rows as 'synthetic'
    (fresh rows equal to a training row dropped, as the gate does: the hotel data
    holds many duplicated bookings)."""
    rows = hotel_reference.sample(1500, random_state=11).reset_index(drop=True)
    train, holdout, fresh = (rows.iloc[i : i + 500].reset_index(drop=True) for i in (0, 500, 1000))
    fresh = fresh[~exact_copies(fresh, train, list(hotel_spec.features))].reset_index(drop=True)
    return train, holdout, fresh


@pytest.fixture(scope="module")
def fresh_report(parts, spec):
    train, holdout, fresh = parts
    return evaluate_synthetic("b", fresh, train, holdout, spec)


def test_fresh_real_rows_pass_every_check(fresh_report):
    overall = fresh_report.slices[0]
    assert fresh_report.passed, fresh_report.failures
    assert overall.quality > 0.8  # real vs real on 500 rows: pair trends are noisy
    assert overall.discriminator_auc < 0.65
    assert 0.4 < overall.dcr_share < 0.6
    assert 0.4 < overall.mia_auc < 0.6
    assert {a.attack for a in overall.attacks} == {
        "singling_out_univariate",
        "singling_out_multivariate",
        "linkability",
        "inference",
    }
    assert all(a.verdict != "fail" for a in overall.attacks)
    assert overall.tstr_ratio > 0.9
    assert overall.exact_copies == 0 and overall.pii_leaks == 0
    headline = fresh_report.headline()
    assert {
        "quality",
        "discriminator_auc",
        "tstr_ratio",
        "label_gap_max",
        "dcr_share",
        "nndr_p5",
        "exact_copies",
    } <= set(headline)
    assert all(type(v) in (int, float) for v in headline.values())


def test_flipped_labels_fail_label_fidelity_and_utility(parts, spec):
    train, holdout, fresh = parts
    flipped = fresh.assign(**{spec.target: 1.0 - fresh[spec.target]})
    report = evaluate_synthetic("b", flipped, train, holdout, spec)
    text = " | ".join(report.failures)
    assert not report.passed
    assert "label_gap_low on overall:" in text and "above the maximum 0.1 (spec gate.max_label_gap)" in text
    assert "tstr_ratio on overall:" in text and "below the minimum 0.8" in text


def test_memorised_rows_fail_privacy(parts, spec):
    train, holdout, _ = parts
    memorised = train.assign(adr=train["adr"] + 0.01)  # near copies of training rows
    report = evaluate_synthetic("b", memorised, train, holdout, spec)
    overall = report.slices[0]
    assert overall.exact_copies == 0
    assert overall.dcr_share > 0.9
    assert overall.mia_auc > 0.9
    assert any(
        f.startswith(f"dcr_share on overall: {overall.dcr_share:.3f} is above the maximum 0.6") for f in report.failures
    )
    # a training row's nearest synthetic row is itself: its label is known, its two halves link
    for attack in ("inference", "linkability"):
        assert any(
            f.startswith(f"{attack}_risk on overall:") and f"spec gate.max_{attack}_risk" in f for f in report.failures
        )
    assert report.headline()["inference_risk_low"] > 0.3


def test_blind_spot_slices_are_judged_against_their_own_real_rows(parts, spec):
    train, holdout, fresh = parts
    city = fresh[SPOT.mask(fresh)].assign(_blind_spot_id=SPOT.id)
    city = city.assign(**{spec.target: 1.0 - city[spec.target]})  # flipped inside the slice
    report = evaluate_synthetic("b", city, train, holdout, spec, [SPOT])
    assert [m.slice for m in report.slices] == ["overall", SPOT.id]
    spot = report.slices[1]
    assert spot.real_rows == int(SPOT.mask(train).sum()) and spot.synthetic_rows == len(city)
    assert spot.tstr_ratio is None  # utility is judged overall only
    line = f"label_gap_low on blind spot {SPOT.id} (hotel = 'City Hotel'):"
    assert any(w.startswith(line) for w in report.warnings), report.warnings  # a slice's breach warns by default ...
    strict = evaluate_synthetic(
        "b", city, train, holdout, replace(spec, gate=replace(spec.gate, slices_block=True)), [SPOT]
    )
    assert any(f.startswith(line) for f in strict.failures), strict.failures  # ... and blocks when the spec says so
    page = to_html(report, spec)
    assert page.startswith("<!doctype html>") and "failed" in page and SPOT.id in page and "class=bad" in page


def test_copies_of_real_rows_are_counted_overall_and_in_their_blind_spot(parts, spec):
    train, holdout, fresh = parts
    inside = fresh[SPOT.mask(fresh)]
    copied = train[SPOT.mask(train)].drop_duplicates(list(spec.features)).head(7)
    rows = pd.concat([inside, copied], ignore_index=True).assign(_blind_spot_id=SPOT.id)
    report = evaluate_synthetic("b", rows, train, holdout, spec, [SPOT])
    overall, spot = report.slices
    assert overall.exact_copies == spot.exact_copies == 7
    assert "exact_copies on overall: 7 row(s), must be 0" in report.failures


def test_utility_draws_no_more_real_rows_than_carry_a_plan_weight(parts, spec):
    """The plan weights the real rows by the synthetic batch's make-up; where fewer real rows
    carry a weight than there are synthetic rows, tstr trains on those it has (bank 2009-10
    failed the whole cycle on this)."""
    train, holdout, fresh = parts
    weighted = train.assign(**{WEIGHT: np.where(np.arange(len(train)) < 300, 1.0, 0.0)})
    assert len(fresh) > 300
    tstr_auc, trtr_auc, ratio = tstr(weighted, fresh, holdout, spec)
    assert 0.5 < trtr_auc <= 1 and 0.5 < tstr_auc <= 1 and ratio == pytest.approx(tstr_auc / trtr_auc)


def test_one_discriminator_tells_each_blind_spot_apart_on_its_own_rows(parts, spec):
    """The blind spots share one classifier; each slice's ROC AUC comes from its own rows:
    fresh real rows stay near 0.5, a slice whose rows moved is told apart, a slice too
    small to judge is None."""
    train, _, fresh = parts
    city, resort = SPOT.mask(train), ~SPOT.mask(train)
    moved = fresh[~SPOT.mask(fresh)].assign(lead_time=lambda f: f["lead_time"] + 150)
    slices = {"fresh": (train[city], fresh[SPOT.mask(fresh)]), "moved": (train[resort], moved)}
    aucs = sliced_two_sample_auc(slices | {"tiny": (train, fresh.head(5))}, *discriminator_columns(spec), rows=1000)
    assert aucs["fresh"] < 0.62 and aucs["moved"] > 0.9 and aucs["tiny"] is None


def test_a_row_in_two_blind_spots_is_never_judged_by_a_fold_that_trained_on_it(parts, spec):
    """The same real rows in two slices (blind spots overlap; bookings repeat) keep to one
    fold: otherwise the classifier learns them as real in one fold and recognises them in
    another, and fresh real rows look told apart."""
    train, _, fresh = parts
    half = len(fresh) // 2
    aucs = sliced_two_sample_auc(
        {"a": (train, fresh.iloc[:half]), "b": (train, fresh.iloc[half:])}, *discriminator_columns(spec), rows=1000
    )
    assert max(aucs.values()) < 0.62, aucs


def test_too_small_slices_are_reported_not_judged(parts, spec):
    train, holdout, fresh = parts
    report = evaluate_synthetic("b", fresh.head(20), train, holdout, spec)
    assert report.passed
    assert report.slices[0].quality is None and report.slices[0].synthetic_rows == 20


def test_label_fidelity_gaps_per_value(hotel_spec):
    real = pd.DataFrame({c: ["a"] * 200 for c in hotel_spec.categorical})
    real["hotel"] = ["x"] * 100 + ["y"] * 100
    real[hotel_spec.target] = [1.0] * 50 + [0.0] * 50 + [1.0] * 100
    synthetic = real.copy()
    synthetic[hotel_spec.target] = np.r_[np.ones(100), np.ones(50), np.zeros(50)]
    gaps = label_fidelity_gaps(real, synthetic, hotel_spec, min_rows=100)
    assert gaps["per_value"]["hotel=x"] == pytest.approx(0.5)
    assert gaps["per_value"]["hotel=y"] == pytest.approx(0.5)
    assert gaps["per_value"]["meal=a"] == pytest.approx(0.0)
    assert gaps["max"] == pytest.approx(0.5)
    assert label_gap_low(real, synthetic, hotel_spec, min_rows=100) == pytest.approx(
        0.5 - 1.96 * np.sqrt(0.25 / 100), abs=1e-9
    )
    assert label_fidelity_gaps(real, synthetic.iloc[:0], hotel_spec)["max"] is None


def test_flywheel_gate_rejects_a_memorised_batch_and_writes_its_report(parts, spec, tmp_path):
    from factory.core.base.plane import DataPlane
    from factory.core.base.storage import Storage
    from factory.core.base.types import ValidationOutcome
    from factory.core.flywheel.synthesis import fidelity_headline, judge_fidelity
    from factory.core.learn.judge import EvaluationSets

    train, holdout, _ = parts
    plane = DataPlane(Storage(str(tmp_path)), spec)
    memorised = train.assign(adr=train["adr"] + 0.01)
    before = ValidationOutcome("2016-08", rows=len(memorised), passed=True, expectations=10)
    accepted, outcome = judge_fidelity(
        plane,
        "2016-08",
        memorised,
        before,
        EvaluationSets("2016-07", train, train.iloc[:0], holdout, train, train.iloc[:0], 0, 0, train, holdout),
        [],
    )
    assert accepted.empty and outcome.passed is False and outcome.rows_dropped == len(memorised)
    assert any(
        f.startswith("batch 2016-08: dcr_share on overall:") and "spec gate.max_dcr_share" in f
        for f in outcome.failures
    )
    assert outcome.report_uri.endswith("reports/synthetic_validation/2016-08.html")
    page = plane.storage.read_bytes("reports/synthetic_validation/2016-08.html").decode()
    assert "dcr_share on overall" in page
    assert "Privacy attacks" in page and "inference" in page
    headline = fidelity_headline(plane, outcome)
    assert headline["dcr_share"] > 0.9 and headline["synthetic_rows"] == len(memorised)
