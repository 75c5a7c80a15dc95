"""The drift fast path: Evidently's test choice and verdicts from the stored profile,
and a clear verdict or error for every kind of bad input."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from factory.core.base.dataset import BATCH
from factory.core.base.errors import FactoryError, SpecError
from factory.core.base.plane import DataPlane
from factory.core.base.profile import profile_reference
from factory.core.base.spec import DatasetSpec, DriftSettings, replace
from factory.core.base.storage import Storage
from factory.core.monitor.drift import fast_drift
from factory.core.monitor.evidently_report import detect_drift, drift_table, evidently_drift, with_verdict
from factory_tests.core.toy import toy_spec

SPEC = toy_spec(numeric=("price", "nights", "flag_num"), categorical=("meal", "hotel"))


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """price: continuous (KS / Wasserstein); nights: 4 values (chi-squared / JS);
    flag_num: binary numeric (Z / JS); meal: 3 categories; hotel: 2 categories."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "price": rng.normal(100 + 30 * shift, 25, n).round(2),
            "nights": rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.4 - 0.2 * shift, 0.3, 0.2, 0.1 + 0.2 * shift]),
            "flag_num": rng.choice([0.0, 1.0], n, p=[0.8 - 0.3 * shift, 0.2 + 0.3 * shift]),
            "meal": rng.choice(["BB", "HB", "SC"], n, p=[0.6, 0.3 - 0.2 * shift, 0.1 + 0.2 * shift]),
            "hotel": rng.choice(["City", "Resort"], n, p=[0.5 + 0.3 * shift, 0.5 - 0.3 * shift]),
            "y": rng.integers(0, 2, n).astype(float),
        }
    )


def compare(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec = SPEC):
    fast = fast_drift("b", current, profile_reference(reference, spec), spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evidently, _ = evidently_drift("b", reference, current, spec)
    return {c.column: c for c in fast.columns}, {c.column: c for c in evidently.columns}


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_small_reference_uses_p_value_tests_and_agrees_with_evidently(shift):
    ours, theirs = compare(frame(600, seed=1), frame(400, seed=2, shift=shift))
    assert {c: ours[c].test for c in ours} == {
        "price": "ks",
        "nights": "chisquare",
        "flag_num": "z",
        "meal": "chisquare",
        "hotel": "z",
    }
    for column, mine in ours.items():
        assert mine.score == pytest.approx(theirs[column].score, rel=1e-9, abs=1e-12), column
        assert mine.drifted == theirs[column].drifted, column
    assert all(c.drifted for c in ours.values()) == (shift == 1.0)


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_large_reference_uses_distances_and_agrees_with_evidently(shift):
    ours, theirs = compare(frame(3000, seed=3), frame(2000, seed=4, shift=shift))
    assert {c: ours[c].test for c in ours} == {
        "price": "wasserstein",
        "nights": "jensenshannon",
        "flag_num": "jensenshannon",
        "meal": "jensenshannon",
        "hotel": "jensenshannon",
    }
    for column, mine in ours.items():  # price: > 1000 distinct values, so a quantile sketch
        tolerance = dict(abs=1e-3) if column == "price" else dict(rel=1e-9)
        assert mine.score == pytest.approx(theirs[column].score, **tolerance), column
        assert mine.drifted == theirs[column].drifted, column
    assert ours["price"].drifted == (shift == 1.0)


def test_per_column_override_changes_test_and_threshold_like_evidently():
    spec = replace(
        SPEC, drift=DriftSettings(per_column={"price": {"test": "ks", "threshold": 0.05}, "meal": {"threshold": 0.5}})
    )
    ours, theirs = compare(frame(3000, seed=5), frame(2000, seed=6, shift=0.3), spec)
    assert ours["price"].test == "ks" and ours["price"].threshold == 0.05
    assert ours["price"].score == pytest.approx(theirs["price"].score, rel=1e-3, abs=1e-12)
    assert ours["meal"].threshold == 0.5 and not ours["meal"].drifted
    assert ours["meal"].drifted == theirs["meal"].drifted


def test_unknown_override_is_refused_with_the_column_named():
    spec = replace(SPEC, drift=DriftSettings(per_column={"price": {"test": "psi-ish"}}))
    with pytest.raises(SpecError, match="price"):
        fast_drift("b", frame(100, seed=1), profile_reference(frame(100, seed=0), SPEC), spec)


def test_sketch_of_a_continuous_column_with_outliers_matches_exact_wasserstein():
    """More than 1000 distinct values: the profile keeps a quantile sketch with exact tails."""
    rng = np.random.default_rng(7)
    reference = frame(20000, seed=7)
    reference.loc[:4, "price"] = [5000.0, 4000.0, -900.0, 3500.0, 2500.0]  # outliers
    current = frame(5000, seed=8, shift=0.1)
    current["price"] = current["price"] + rng.exponential(2, len(current))
    profile = profile_reference(reference, SPEC)
    assert profile.column("price").quantiles and not profile.column("price").counts
    mine = fast_drift("b", current, profile, SPEC).columns[0]
    exact = stats.wasserstein_distance(reference["price"], current["price"]) / reference["price"].std(ddof=0)
    assert mine.test == "wasserstein"
    assert mine.score == pytest.approx(exact, abs=1e-3)


def test_profile_survives_storage_round_trip(tmp_path):
    reference, current = frame(3000, seed=9), frame(1000, seed=10, shift=0.5)
    plane = DataPlane(Storage(str(tmp_path)), SPEC)
    plane.write_reference(reference.assign(**{BATCH: "2015-01"}), profile_reference(reference, SPEC))
    stored = fast_drift("b", current, plane.profile(), SPEC)
    fresh = fast_drift("b", current, profile_reference(reference, SPEC), SPEC)
    assert [(c.column, c.test, c.score, c.drifted) for c in stored.columns] == [
        (c.column, c.test, c.score, c.drifted) for c in fresh.columns
    ]


def test_tidy_table_has_one_row_per_column_with_both_summaries():
    report = fast_drift("2017-01", frame(500, seed=11, shift=1.0), profile_reference(frame(3000, seed=12), SPEC), SPEC)
    table = drift_table(report)
    assert list(table["column"]) == list(SPEC.features)
    assert {"test", "statistic", "threshold", "drifted", "reference_summary", "current_summary"} <= set(table.columns)
    assert table["reference_summary"].str.startswith("n=").all() and table["current_summary"].str.startswith("n=").all()
    assert report.drift_share == pytest.approx(table["drifted"].mean())


# -- bad input: a verdict or an error naming the column, never a crash inside scipy ----------


def run_quietly(current: pd.DataFrame, reference: pd.DataFrame | None = None):
    reference = frame(3000, seed=20) if reference is None else reference
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from numpy/scipy would fail the test
        return {c.column: c for c in fast_drift("b", current, profile_reference(reference, SPEC), SPEC).columns}


def test_constant_columns_get_a_verdict():
    reference = frame(3000, seed=21).assign(price=50.0, meal="BB")
    same = run_quietly(frame(500, seed=22).assign(price=50.0, meal="BB"), reference)
    assert not same["price"].drifted and not same["meal"].drifted
    moved = run_quietly(frame(500, seed=22).assign(price=60.0, meal="HB"), reference)
    assert moved["price"].drifted and moved["meal"].drifted


def test_all_null_column_in_the_batch_is_drifted_with_a_note():
    result = run_quietly(frame(500, seed=23).assign(price=np.nan, meal=None))
    for column in ("price", "meal"):
        assert result[column].test == "missing" and result[column].drifted
        assert "no non-null values in the batch" in result[column].note
        assert result[column].current_null_share == 1.0


def test_all_null_column_in_the_reference_cannot_drift_unless_values_appear():
    reference = frame(3000, seed=24).assign(price=np.nan)
    result = run_quietly(frame(500, seed=25).assign(price=np.nan), reference)
    assert result["price"].test == "missing" and not result["price"].drifted
    assert "reference" in result["price"].note


def test_one_row_batch_gets_a_verdict_for_every_column():
    result = run_quietly(frame(1, seed=26))
    assert set(result) == set(SPEC.features)
    assert all(np.isfinite(c.score) for c in result.values())


def test_unseen_category_is_named_and_drifts():
    small = run_quietly(frame(300, seed=27).assign(meal="FB"), frame(500, seed=28))
    assert small["meal"].test == "chisquare" and small["meal"].drifted and small["meal"].score == 0.0
    assert "FB" in small["meal"].note
    large = run_quietly(frame(300, seed=27).assign(meal="FB"))
    assert large["meal"].test == "jensenshannon" and large["meal"].drifted and "FB" in large["meal"].note


def test_numeric_column_as_text_numbers_is_read_as_numbers():
    current = frame(500, seed=29)
    as_text = current.assign(price=current["price"].astype(str))
    assert run_quietly(as_text)["price"].score == pytest.approx(run_quietly(current)["price"].score)


def test_numeric_column_with_words_is_an_error_naming_it():
    current = frame(500, seed=30).astype({"price": object})
    current.loc[3, "price"] = "n/a"
    with pytest.raises(FactoryError, match="'price'.*'n/a'"):
        run_quietly(current)


def test_missing_column_is_an_error_naming_it():
    with pytest.raises(FactoryError, match="'nights'"):
        run_quietly(frame(100, seed=31).drop(columns=["nights"]))


@pytest.mark.slow
def test_real_hotel_batches_agree_with_evidently(hotel_spec, hotel_reference, hotel_later, hotel_batch):
    profile = profile_reference(hotel_reference, hotel_spec)
    for batch_id in (hotel_later[0], hotel_later[-1]):
        current = hotel_batch(batch_id)
        ours = {c.column: c for c in fast_drift(batch_id, current, profile, hotel_spec).columns}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs, _ = evidently_drift(batch_id, hotel_reference, current, hotel_spec)
        for c in theirs.columns:
            assert ours[c.column].drifted == c.drifted, (batch_id, c.column)
            assert ours[c.column].score == pytest.approx(c.score, abs=1e-3), (batch_id, c.column)


def test_domain_classifier_finds_a_joint_shift_and_names_its_feature():
    from factory.core.monitor.drift import domain_classifier

    same_auc, _ = domain_classifier(frame(1500, seed=40), frame(1500, seed=41), SPEC)
    shifted_auc, features = domain_classifier(frame(1500, seed=40), frame(1500, seed=42, shift=1.0), SPEC)
    assert same_auc < 0.6 and shifted_auc > 0.75
    assert features[0].startswith("price")


def test_the_drift_page_opens_with_the_verdict_the_loop_acts_on():
    """The page is Evidently's, on a sample: its first line is the metadata's verdict, and it
    names the columns the sample judges differently."""
    reference, current = frame(3000, seed=1), frame(3000, seed=2, shift=0.15)
    spec = replace(SPEC, drift=replace(SPEC.drift, report_sample_rows=300))
    verdict = fast_drift("b", current, profile_reference(reference, spec), spec)
    page, html = detect_drift("b", reference, current, spec)
    assert page.drifted_columns != verdict.drifted_columns  # 300 rows see less than 3000: the two disagree
    shown = with_verdict(html, page, verdict, 300, spec.drift.share_threshold)
    body = shown.split("<body", 1)[1].split(">", 1)[1]
    first = re.sub(r"<[^>]+>", "", body.split("</div>", 1)[0])
    assert first.startswith("Verdict (all 3000 rows against the stored reference profile")
    assert f"drift share {verdict.drift_share:.3f}" in first and "a sample of 300 of 3000 rows" in first
    differ = sorted(set(page.drifted_columns) ^ set(verdict.drifted_columns))
    assert f"it judges {', '.join(differ)} differently" in first
