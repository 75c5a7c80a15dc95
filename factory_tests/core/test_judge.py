"""The honest judge: the holdout is the newest labelled batch's end in time, shares no row
with training, the recipe it prefers is the better one, and the judge's record and the
pooled synthetic evidence behave as their docstrings say."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import BATCH
from factory.core.base.plane import DataPlane
from factory.core.base.profile import profile_reference
from factory.core.base.spec import BlindSpotSettings, JudgeSettings, Recipe, TimeSpec, replace
from factory.core.base.storage import Storage
from factory.core.flywheel.retraining import choose_recipe
from factory.core.learn.judge import discovery_pool, evaluation_sets, split_by_time
from factory.core.learn.recipe import train_recipe
from factory.core.learn.scoring import score_model
from factory.core.learn.verdicts import RecipeRecord, Verdict, choose_policy, gate_record, pooled, recipe_record
from factory_tests.core.toy import toy_spec

SPEC = replace(toy_spec(), time=TimeSpec(month="month", day="day", start_year=2015))


def frame(seed: int, batch: str, n: int = 600, flip: bool = False) -> pd.DataFrame:
    """Rows in time order over 30 days; the label follows lead_time, or its opposite."""
    rng = np.random.default_rng(seed)
    lead = rng.integers(0, 300, n).astype(float)
    p = 0.2 + 0.6 * lead / 300
    return pd.DataFrame(
        {
            "lead_time": lead,
            "adr": rng.normal(100, 25, n).round(2),
            "hotel": rng.choice(["Resort Hotel", "City Hotel"], n),
            "meal": rng.choice(["BB", "HB"], n),
            "month": int(batch[-2:]),
            "day": np.sort(rng.integers(1, 31, n)),
            "y": (rng.random(n) < (1 - p if flip else p)).astype(float),
            BATCH: batch,
        }
    )


def plane_with(tmp_path, batches: dict[str, pd.DataFrame], spec=SPEC) -> DataPlane:
    plane = DataPlane(Storage(str(tmp_path)), spec)
    reference = pd.concat([frame(1, "2015-01"), frame(2, "2015-02")], ignore_index=True)
    plane.write_reference(reference, profile_reference(reference, spec))
    for batch, rows in batches.items():
        plane.write_validated(batch, rows)
    return plane


def test_the_holdout_is_the_end_of_the_batch_in_time_and_keeps_days_whole():
    batch = frame(3, "2015-03").sample(frac=1.0, random_state=0)  # landed in any order
    early, gap, late = split_by_time(batch, SPEC, share=0.5, gap=0.1)
    assert early["day"].max() <= gap["day"].min() and gap["day"].max() < late["day"].min()
    assert set(early["day"]).isdisjoint(late["day"]) and set(gap["day"]).isdisjoint(late["day"])
    assert 0.4 < len(late) / len(batch) < 0.6 and 0.05 < len(gap) / len(batch) < 0.15
    assert len(early) + len(gap) + len(late) == len(batch)
    no_day = replace(SPEC, time=TimeSpec(month="month", start_year=2015))
    _, _, by_position = split_by_time(batch, no_day, share=0.25)
    assert list(by_position.index) == list(batch.index[-len(by_position) :])  # no clock: the last rows landed


def test_rows_that_copy_a_training_row_are_dropped_from_the_holdout(tmp_path):
    latest = frame(4, "2015-03")
    late = latest[latest["day"] >= 16]
    copied = late.sample(40, random_state=1)
    early = pd.concat([latest[latest["day"] < 16], copied.assign(day=1)], ignore_index=True)  # group bookings
    batches = {"2015-03": pd.concat([early, late], ignore_index=True), "2015-04": frame(5, "2015-04")}
    plane = plane_with(tmp_path, batches)
    sets = evaluation_sets(plane, "2015-04")
    assert sets.newest == "2015-03"
    assert sets.copies_dropped == 40
    _, _, judged = split_by_time(batches["2015-03"], SPEC, share=0.5)
    assert set(copied["day"]) <= set(judged["day"]) and len(sets.holdout) == len(judged) - 40
    keys = [*SPEC.features, SPEC.target]
    assert sets.holdout.merge(sets.train[keys], on=keys).empty  # no judged row copies a training row
    assert len(sets.everything) == len(sets.train) + len(judged)  # the served model sees every labelled row
    assert len(sets.backtest) == 600 and (sets.discovery[BATCH] == "2015-03").all()


TRUSTED = RecipeRecord(decisive=4, agreement=1.0)  # the holdout's window preference has predicted the next batch


def recipe_search(
    plane: DataPlane, batch: str, recipes: list[Recipe], margin: float = 0.005, record: RecipeRecord = TRUSTED
):
    """Every recipe trained on the judge's rows and scored on its holdout, then the choice."""
    spec = replace(SPEC, training=replace(SPEC.training, recipes=tuple(recipes), recipe_margin=margin))
    sets = evaluation_sets(plane, batch)
    models = {r.name: train_recipe(sets.train, spec, r) for r in recipes}
    candidates = [dict(recipe=k, auc=score_model(k, m, sets.holdout, spec, rounds=0).auc) for k, m in models.items()]
    return {c["recipe"]: c["auc"] for c in candidates}, *choose_recipe(candidates, models, sets.holdout, spec, record)


def test_the_recipe_search_picks_a_planted_better_window(tmp_path):
    """The label flips from 2015-04 on: only a window of the newest batches learns it."""
    batches = {"2015-03": frame(3, "2015-03"), "2015-04": frame(4, "2015-04", 1500, flip=True)}
    batches["2015-05"] = frame(5, "2015-05", 1500, flip=True)
    batches["2015-06"] = frame(6, "2015-06", flip=True)
    recipes = [Recipe(name="all", recency_batches=1, recency_weight=2.0), Recipe(name="last2", window=2)]
    plane = plane_with(tmp_path, batches)
    aucs, chosen, why = recipe_search(plane, "2015-06", recipes)
    assert aucs["last2"] > aucs["all"] + 0.05
    assert chosen.name == "last2" and why.startswith("last2: +0.") and "over all [+0." in why
    # the same holdout, but the window preference has not shown it predicts the next batch: the default stays
    _, chosen, why = recipe_search(plane, "2015-06", recipes, record=RecipeRecord(decisive=5, agreement=0.4))
    assert chosen.name == "all" and "over all [+0." in why
    assert why.endswith("had the next batch's sign in 40% of 5 decisive cycles (a window needs 60% of at least 4)")
    _, chosen, _ = recipe_search(plane, "2015-06", recipes, record=RecipeRecord(decisive=2, agreement=1.0))
    assert chosen.name == "all"  # too early to tell: a window must earn its say


def test_a_better_window_on_noise_does_not_replace_the_default(tmp_path):
    """Nothing changes between batches and the holdout is small: whichever window scores
    higher does so by chance, and its interval says so."""
    batches = {f"2015-0{m}": frame(m, f"2015-0{m}", 120) for m in (3, 4, 5, 6)}
    recipes = [Recipe(name="all"), Recipe(name="last1", window=1)]
    aucs, chosen, why = recipe_search(plane_with(tmp_path, batches), "2015-06", recipes, margin=0.0)
    assert aucs["last1"] > aucs["all"] + 0.05  # a margin alone would take the window
    assert chosen.name == "all"
    assert why.startswith("all kept: last1 is +0.") and why.endswith("an interval that holds zero")


def verdict(batch: str, promote: bool, back: float | None) -> Verdict:
    return Verdict(batch, batch, "recency", "1", "2", 0.01 if promote else -0.01, None, None, promote, promote,
                   "gate", "", backtest_diff=back)  # fmt: skip


def test_the_gate_decides_until_its_record_says_it_does_not_predict():
    settings = JudgeSettings(agreement_floor=0.6, min_record=4, decisive_diff=0.005)
    right = [verdict(f"2016-0{i}", True, 0.02) for i in range(1, 5)]
    assert choose_policy(gate_record(right, settings), settings)[0] == "gate"
    wrong = [verdict(f"2016-0{i}", i % 2 == 0, 0.02) for i in range(1, 7)]  # refused half the retrains that helped
    record = gate_record(wrong + [verdict("2016-07", True, 0.001)], settings)  # not decisive: not counted
    assert record.decisive == 6 and record.agreement == 0.5
    policy, why = choose_policy(record, settings)
    assert policy == "always" and "50%" in why
    hurt = [verdict(f"2016-0{i}", i % 2 == 0, -0.02 - 0.001 * i) for i in range(1, 7)]
    policy, why = choose_policy(gate_record(hurt, settings), settings)
    assert policy == "keep" and "as the record shows retraining losing" in why
    mixed = [verdict(f"2016-0{i}", i % 2 == 1, 0.03 * (-1) ** i - 0.01) for i in range(1, 7)]  # summed -0.06
    record = gate_record(mixed, settings)
    assert record.agreement == 0 and record.gain_always < 0 < record.always_high
    policy, why = choose_policy(record, settings)
    assert policy == "always" and "does not show retraining losing" in why  # the newer model, unless shown worse
    assert choose_policy(gate_record(wrong[:3], settings), settings)[0] == "gate"  # too early to tell


def test_the_recipe_record_counts_the_holdout_window_preference_against_the_next_batch():
    settings = JudgeSettings(agreement_floor=0.6, min_record=4, decisive_diff=0.005)
    cycle = lambda gain, back: dataclasses.replace(  # noqa: E731
        verdict("2016-01", True, 0.01), recipe_rival="last3", recipe_gain=gain, recipe_backtest_diff=back
    )
    history = [cycle(0.01, 0.02), cycle(0.01, -0.02), cycle(-0.01, -0.02), cycle(0.01, 0.001), cycle(0.01, None)]
    record = recipe_record(history + [verdict("2016-02", True, 0.01)], settings)  # no rival on record: not counted
    assert record == RecipeRecord(decisive=3, agreement=2 / 3)  # the small and the unlabelled cycles do not count
    assert not record.trusted(settings)
    assert recipe_record(history + [cycle(0.02, 0.03)], settings).trusted(settings)  # 3 of 4


def test_the_pooled_interval_narrows_as_cycles_accumulate():
    effects = [0.004 + 0.01 * (-1) ** i for i in range(40)]  # a small effect in noise twice its size
    widths = [pooled(effects[:n]).high - pooled(effects[:n]).low for n in (4, 10, 40)]
    assert widths[0] > widths[1] > widths[2]
    assert pooled(effects).low > 0 > pooled(effects[:4]).low  # forty cycles see what four cannot
    assert pooled([None, 0.01]).cycles == 1 and pooled([0.01]).low is None
    assert pooled(effects).mean == pytest.approx(np.mean(effects))


def test_a_small_batch_is_pooled_with_earlier_batches_the_champion_was_not_trained_on(tmp_path):
    batches = {b: frame(i, b, n=200) for i, b in enumerate(["2015-03", "2015-04", "2015-05", "2015-06"], start=10)}
    plane = plane_with(tmp_path, {**batches, "2015-07": frame(20, "2015-07")})
    sets = evaluation_sets(plane, "2015-07")  # the newest labelled batch is 2015-06: about 100 rows before its holdout
    trained = pd.concat([plane.reference(), batches["2015-03"]])  # a champion kept since 2015-03's cycle
    settings = BlindSpotSettings(pool_batches=3, pool_rows=1000)
    rows, pooled = discovery_pool(sets, trained, settings)
    assert pooled == ("2015-04", "2015-05")  # newest first, up to 3 batches in all
    assert list(rows[BATCH].unique()) == ["2015-04", "2015-05", "2015-06"] and len(rows) == 400 + len(sets.discovery)
    assert (
        rows.tail(len(sets.discovery)).reset_index(drop=True).equals(sets.discovery)
    )  # the newest batch's rows come last
    assert rows.merge(sets.holdout, on=list(sets.holdout.columns)).empty  # the holdout never finds blind spots
    assert discovery_pool(sets, trained, replace(settings, pool_batches=5))[1] == ("2015-04", "2015-05")  # no more
    enough = discovery_pool(sets, trained, replace(settings, pool_rows=250))[1]
    assert enough == ("2015-05",)  # it stops once it has pool_rows rows
    everything = pd.concat([plane.reference(), *batches.values()])
    assert discovery_pool(sets, everything, settings)[1] == ()  # a champion trained on all: nothing to pool
