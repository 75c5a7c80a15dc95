"""Coverage gaps, low-confidence regions, three-condition slices, shrinkage,
persistence across batches and degenerate input, on small frames whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.profile import profile_reference
from factory.core.base.spec import replace
from factory.core.base.types import Condition
from factory.core.discover.coverage import find_coverage_gaps, find_low_confidence
from factory.core.discover.error_slices import find_blind_spots
from factory.core.discover.persistence import (
    blind_spot_table,
    persistence_table,
    recurrence_counts,
    slice_lift,
    with_persistence,
)
from factory.core.discover.ranking import (
    child_can_be_significant,
    prior_strength,
    replication_probability,
    shrunk_lift,
    sliceline_score,
)
from factory_tests.core.toy import toy_spec

SPEC = toy_spec()


def frame(seed: int, n: int = 4000, sc_share: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lead_time": rng.integers(0, 300, n).astype(float),
            "adr": rng.normal(100, 25, n).round(2),
            "hotel": rng.choice(["Resort Hotel", "City Hotel"], n),
            "meal": rng.choice(["BB", "HB", "SC"], n, p=[(1 - sc_share) * 2 / 3, (1 - sc_share) / 3, sc_share]),
            "y": rng.integers(0, 2, n).astype(float),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return frame(seed=1)


@pytest.fixture(scope="module")
def profile(reference):
    return profile_reference(reference, SPEC)


@pytest.fixture(scope="module")
def top_bin(profile) -> float:
    return profile.column("lead_time").bin_edges[-1]


# -- three conditions ------------------------------------------------------------------


def test_three_condition_slice_is_found(profile, top_bin):
    n = 20000
    df = frame(seed=2, n=n)
    rng = np.random.default_rng(3)
    inside = ((df["hotel"] == "Resort Hotel") & (df["meal"] == "SC") & (df["lead_time"] >= top_bin)).to_numpy()
    errors = np.where(inside, rng.random(n) < 0.7, rng.random(n) < 0.05).astype(int)

    result = find_blind_spots(df, errors, SPEC, profile)

    first = result.blind_spots[0]
    assert {c.column for c in first.conditions} == {"hotel", "meal", "lead_time"}
    assert first.predicate == f"lead_time >= {top_bin:g} AND hotel = 'Resort Hotel' AND meal = 'SC'"
    assert first.support == int(inside.sum())
    # none of its two-condition parents is reported beside it: they overlap less and rank lower
    assert all(len({c.column for c in s.conditions}) < 3 or s is first for s in result.blind_spots)


def test_max_conditions_two_keeps_to_pairs(profile, top_bin):
    n = 20000
    df = frame(seed=2, n=n)
    rng = np.random.default_rng(3)
    inside = ((df["hotel"] == "Resort Hotel") & (df["meal"] == "SC") & (df["lead_time"] >= top_bin)).to_numpy()
    errors = np.where(inside, rng.random(n) < 0.7, rng.random(n) < 0.05).astype(int)
    spots = find_blind_spots(df, errors, SPEC, profile, max_conditions=2).blind_spots
    assert spots and all(len({c.column for c in s.conditions}) <= 2 for s in spots)


def test_pruning_bound():
    # 5 errors cannot make any 30-row child significant at a 5% base rate... 10 can
    assert not child_can_be_significant(np.array([1]), 30, 0.05, 0.05)[0]
    assert child_can_be_significant(np.array([10]), 30, 0.05, 0.05)[0]


# -- shrinkage and score -----------------------------------------------------------------


def test_shrunk_lift_pulls_small_slices_harder():
    lift = shrunk_lift(np.array([20.0, 200.0]), np.array([40.0, 400.0]), 0.1, strength=100.0)
    assert 5 > lift[1] > lift[0] > 1  # same raw lift 5: the small slice is shrunk more
    small_hot = shrunk_lift(np.array([30.0]), np.array([40.0]), 0.1, 100.0)[0]  # raw lift 7.5
    big_warm = shrunk_lift(np.array([160.0]), np.array([400.0]), 0.1, 100.0)[0]  # raw lift 4
    assert small_hot < big_warm


def test_replication_needs_more_than_significance():
    overall, m = 0.1, 400
    border = np.ceil(m * overall + 1.96 * np.sqrt(m * overall * (1 - overall)))  # just significant at 95%
    weak, strong = replication_probability(
        np.array([border, border]), np.array([m, m]), overall, np.array([10.0, 400.0])
    )
    sure = replication_probability(np.array([120.0]), np.array([m]), overall, 10.0)[0]
    assert 0.3 < weak < 0.6  # about even odds of showing again on a fresh sample
    assert strong < weak  # a stronger prior toward the overall rate doubts it more
    assert sure > 0.99


def test_prior_strength_follows_heterogeneity():
    support = np.full(20, 500.0)
    flat = prior_strength(support * 0.1, support, 0.1)
    varied = prior_strength(support * np.linspace(0.02, 0.3, 20), support, 0.1)
    assert varied < flat


def test_sliceline_score_trades_lift_against_size():
    score = sliceline_score(np.array([0.4, 0.4, 0.1]), 0.1, np.array([1000, 50, 1000]), 10000)
    assert score[0] > score[1]  # same error, larger slice
    assert score[0] > score[2]  # same size, higher error


def test_error_spots_carry_shrunk_lift_and_score(profile):
    df = frame(seed=4)
    rng = np.random.default_rng(5)
    errors = np.where(df["meal"] == "SC", rng.random(len(df)) < 0.5, rng.random(len(df)) < 0.05).astype(int)
    first = find_blind_spots(df, errors, SPEC, profile).blind_spots[0]
    assert first.predicate == "meal = 'SC'"
    assert first.lift > first.lift_shrunk > 1
    assert first.score > 0


# -- coverage gaps -----------------------------------------------------------------------


def test_coverage_gap_is_found(reference, profile):
    production = frame(seed=6, n=3000, sc_share=0.45)
    proba = np.full(len(production), 0.3)

    result = find_coverage_gaps(production, reference, SPEC, profile, proba=proba)

    first = result.blind_spots[0]
    assert first.predicate == "meal = 'SC'"
    assert first.kind == "coverage"
    in_prod = int((production["meal"] == "SC").sum())
    in_train = int((reference["meal"] == "SC").sum())
    assert first.support == in_prod and first.train_support == in_train
    assert first.deficit == round(in_prod / len(production) * len(reference) - in_train)
    assert first.lift == pytest.approx((in_prod / len(production)) / (in_train / len(reference)))
    assert first.lift > first.lift_shrunk > 1
    # label mix: the slice's labelled training rows
    assert first.positive_share == pytest.approx(reference.loc[reference["meal"] == "SC", "y"].mean())
    assert all(s.kind == "coverage" for s in result.blind_spots)


def test_coverage_needs_no_labels_and_falls_back_to_model_mix(profile):
    production = frame(seed=6, n=3000, sc_share=0.45).assign(y=np.nan)
    training = frame(seed=7).assign(y=np.nan)
    spot = find_coverage_gaps(production, training, SPEC, profile, proba=np.full(3000, 0.3)).blind_spots[0]
    assert spot.predicate == "meal = 'SC'"
    assert spot.positive_share == pytest.approx(0.3)


def test_same_distribution_gives_no_coverage_gap(reference, profile):
    result = find_coverage_gaps(frame(seed=8, n=3000), reference, SPEC, profile)
    assert result.blind_spots == ()
    assert result.tested > 0
    assert "denser in production" in result.reason


# -- low confidence ----------------------------------------------------------------------


def test_low_confidence_region_is_found(profile, top_bin):
    df = frame(seed=9).assign(y=np.nan)  # no labels needed
    rng = np.random.default_rng(10)
    inside = ((df["hotel"] == "Resort Hotel") & (df["lead_time"] >= top_bin)).to_numpy()
    proba = np.where(inside, rng.uniform(0.4, 0.6, len(df)), rng.choice([0.03, 0.97], len(df)))

    result = find_low_confidence(df, proba, SPEC, profile)

    first = result.blind_spots[0]
    assert first.kind == "low_confidence"
    assert set(first.conditions) == {
        Condition("hotel", "==", "Resort Hotel"),
        Condition("lead_time", ">=", float(top_bin)),
    }
    assert first.error_rate == pytest.approx(np.minimum(proba, 1 - proba)[inside].mean())
    assert first.error_low < first.error_rate < first.error_high
    assert first.lift > 5 and 1 < first.lift_shrunk < first.lift


def test_equally_sure_model_gives_a_reason(profile):
    df = frame(seed=9)
    result = find_low_confidence(df, np.full(len(df), 0.9), SPEC, profile)
    assert result.blind_spots == () and result.reason == "the champion is equally sure of every row"


# -- persistence across batches ---------------------------------------------------------


def two_equal_slices(profile, top_bin):
    df = frame(seed=11)
    rng = np.random.default_rng(12)
    hard = (df["meal"] == "SC") | ((df["hotel"] == "City Hotel") & (df["lead_time"] >= top_bin))
    errors = np.where(hard, rng.random(len(df)) < 0.5, rng.random(len(df)) < 0.05).astype(int)
    return df, errors


def test_history_favours_recurring_predicates(profile, top_bin):
    df, errors = two_equal_slices(profile, top_bin)
    plain = find_blind_spots(df, errors, SPEC, profile).blind_spots
    assert len(plain) >= 2
    second = plain[1]
    history = [blind_spot_table([second], "2016-01"), blind_spot_table([second], "2016-02")]

    boosted = find_blind_spots(df, errors, SPEC, profile, history=history).blind_spots

    assert boosted[0].id == second.id
    assert boosted[0].recurrence == 2
    assert recurrence_counts(history) == {second.id: 2}


def test_persistence_is_the_lift_on_the_next_batch(profile, top_bin):
    df, errors = two_equal_slices(profile, top_bin)
    spots = find_blind_spots(df, errors, SPEC, profile).blind_spots
    nxt = frame(seed=13)
    next_errors = np.where(nxt["meal"] == "SC", 0.3, 0.1) > np.random.default_rng(14).random(len(nxt))

    marked = with_persistence(spots, nxt, next_errors, "y")

    for spot in marked:
        assert spot.persistence == pytest.approx(metric_lift(spot, nxt, next_errors))
    table = blind_spot_table(marked, "2016-03")
    assert table["persistence"].notna().all()
    assert slice_lift(spots[0], nxt.iloc[:0], next_errors[:0], "y") is None


def metric_lift(spot, df: pd.DataFrame, errors: np.ndarray) -> float:
    """The slice's lift over the rows its metric counts (all, positives or negatives)."""
    rows = np.ones(len(df), dtype=bool) if spot.metric == "error" else df["y"].to_numpy() == (spot.metric == "miss")
    return errors[spot.mask(df).to_numpy() & rows].mean() / errors[rows].mean()


def test_a_slice_whose_labels_the_model_learnt_flipped_is_a_false_alarm_slice(profile):
    """Positives the model mostly misses, negatives it seldom flags, except in one
    slice where it flags every negative and misses no positive: the slice's overall
    error rate is the batch's, but its false-alarm rate is not."""
    df = frame(seed=21, n=8000)
    rng = np.random.default_rng(22)
    inside = (df["meal"] == "HB").to_numpy()
    y = df["y"].to_numpy() == 1
    errors = np.where(y, rng.random(len(df)) < 0.9, rng.random(len(df)) < 0.1)
    errors = np.where(inside, ~y, errors).astype(int)
    assert abs(errors[inside].mean() - errors.mean()) < 0.05  # invisible to the overall error rate

    spots = find_blind_spots(df, errors, SPEC, profile).blind_spots
    errors_only = find_blind_spots(
        df,
        errors,
        replace(SPEC, blind_spots=replace(SPEC.blind_spots, metrics=("error",))),
        profile,
    ).blind_spots

    alarms = [s for s in spots if s.metric == "false_alarm"]
    assert alarms[0].predicate == "meal = 'HB'"  # the top false-alarm slice
    assert alarms[0].error_rate == 1.0 and alarms[0].overall_error == pytest.approx(errors[~y].mean())
    assert alarms[0].support == int(inside.sum()) and alarms[0].positive_share == pytest.approx(y[inside].mean())
    assert "meal = 'HB'" not in [s.predicate for s in errors_only]


def test_persistence_table_reads_stored_predicates_back(profile, top_bin, tmp_path):
    df, errors = two_equal_slices(profile, top_bin)
    spots = find_blind_spots(df, errors, SPEC, profile).blind_spots
    stored = tmp_path / "2016-03.parquet"
    blind_spot_table(spots, "2016-03").to_parquet(stored)
    earlier = pd.read_parquet(stored)
    nxt = frame(seed=13)
    next_errors = np.where(nxt["meal"] == "SC", 0.3, 0.1) > np.random.default_rng(14).random(len(nxt))

    table = persistence_table(earlier, nxt, next_errors, "y", "2016-04")

    assert len(spots) > 0 and list(table["blind_spot_id"]) == [s.id for s in spots]
    for spot, lift in zip(spots, table["persistence"]):
        assert lift == pytest.approx(metric_lift(spot, nxt, next_errors))
    assert (table["measured_on"] == "2016-04").all()
    assert earlier["persistence"].isna().all()  # the earlier table itself is left as it was


def test_table_columns_are_a_superset_of_the_old_ones():
    old = [
        "batch_id",
        "blind_spot_id",
        "predicate",
        "kind",
        "support",
        "errors",
        "error_rate",
        "error_low",
        "error_high",
        "overall_error",
        "lift",
        "p_value",
        "positive_share",
        "train_support",
        "conditions",
    ]
    table = blind_spot_table([], "2016-01")
    assert set(old) <= set(table.columns)
    assert {"deficit", "lift_shrunk", "score", "recurrence", "persistence"} <= set(table.columns)


# -- degenerate input --------------------------------------------------------------------


def test_no_labels(profile):
    df = frame(seed=2).assign(y=np.nan)
    result = find_blind_spots(df, np.zeros(len(df)), SPEC, profile)
    assert result.blind_spots == () and result.reason == "no labels in this batch: error slices need labels"


def test_one_class_only_does_not_crash(profile):
    df = frame(seed=2).assign(y=1.0)
    rng = np.random.default_rng(3)
    errors = np.where(df["meal"] == "SC", rng.random(len(df)) < 0.6, rng.random(len(df)) < 0.1).astype(int)
    spots = find_blind_spots(df, errors, SPEC, profile).blind_spots
    assert spots[0].predicate == "meal = 'SC'" and spots[0].positive_share == 1.0


def test_every_row_wrong(profile):
    df = frame(seed=2)
    result = find_blind_spots(df, np.ones(len(df)), SPEC, profile)
    assert result.blind_spots == () and "every row" in result.reason


def test_all_missing_column_is_skipped(profile):
    df = frame(seed=4).assign(adr=np.nan)
    rng = np.random.default_rng(5)
    errors = np.where(df["meal"] == "SC", rng.random(len(df)) < 0.5, rng.random(len(df)) < 0.05).astype(int)
    result = find_blind_spots(df, errors, SPEC, profile)
    assert result.blind_spots[0].predicate == "meal = 'SC'"
    assert not any(c.column == "adr" for s in result.blind_spots for c in s.conditions)
    cover = find_coverage_gaps(df, frame(seed=1), SPEC, profile)
    assert not any(c.column == "adr" for s in cover.blind_spots for c in s.conditions)


def test_every_column_missing(profile):
    df = frame(seed=4)
    df[["lead_time", "adr", "hotel", "meal"]] = np.nan
    errors = (np.random.default_rng(1).random(len(df)) < 0.1).astype(int)
    assert find_blind_spots(df, errors, SPEC, profile).reason == "no column has values to slice on"
    assert (
        find_low_confidence(df, np.full(len(df), 0.5) - errors * 0.4, SPEC, profile).reason
        == "no column has values to slice on"
    )


def test_tiny_batches(profile, reference):
    tiny = frame(seed=2, n=20)
    assert "only 20 production rows" in find_coverage_gaps(tiny, reference, SPEC, profile).reason
    assert "only 20 scored rows" in find_low_confidence(tiny, np.linspace(0, 1, 20), SPEC, profile).reason
    assert find_coverage_gaps(tiny.iloc[:0], reference, SPEC, profile).reason == "empty production batch"
    assert find_coverage_gaps(tiny, reference.iloc[:0], SPEC, profile).reason == "no training rows to compare with"
    assert find_low_confidence(tiny.iloc[:0], np.array([]), SPEC, profile).reason == "empty batch"


def test_the_replication_bound_holds_back_a_weak_slice_unless_switched_off(profile):
    """A slice barely past significance on a small batch would not replicate: the
    default bound (blind_spots.max_false_share 0.1) holds it back and says why; at
    1.0 the bound is off and it is reported. The same slice on a larger batch is sure
    enough to be reported under the bound."""

    spec = replace(SPEC, blind_spots=replace(SPEC.blind_spots, metrics=("error",)))
    off = replace(spec, blind_spots=replace(spec.blind_spots, max_false_share=1.0))

    def search(spec, n):
        df = frame(seed=7, n=n)
        rng = np.random.default_rng(8)
        errors = np.where(df["meal"] == "SC", rng.random(len(df)) < 0.35, rng.random(len(df)) < 0.15).astype(int)
        return find_blind_spots(df, errors, spec, profile, max_conditions=1)

    held, free = search(spec, 800), search(off, 800)
    assert [s.predicate for s in free.blind_spots] == ["meal = 'SC'"]
    assert held.blind_spots == () and held.significant >= 1 and "would replicate" in held.reason
    sure = [s for s in search(spec, 3000).blind_spots if s.predicate == "meal = 'SC'"]
    assert sure and sure[0].replication > 1 - spec.blind_spots.max_false_share > free.blind_spots[0].replication
