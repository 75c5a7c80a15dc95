"""Training, scoring on real rows, and the promotion and ablation rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import BATCH
from factory.core.base.spec import PromotionSettings, Recipe, replace
from factory.core.base.types import BlindSpot, Comparison, Condition, ModelScores
from factory.core.flywheel.retraining import scores_metrics
from factory.core.learn.promotion import gate_verdict, holdout_prefers_synthetic, use_synthetic
from factory.core.learn.recipe import recency_weights, train_model, window_rows
from factory.core.learn.scoring import compare_models, score_model
from factory.core.learn.verdicts import Pooled


@pytest.fixture(scope="module")
def small_spec(hotel_spec):
    return replace(hotel_spec, training=replace(hotel_spec.training, n_estimators=40, learning_rate=0.1))


@pytest.fixture(scope="module")
def model(hotel_reference, small_spec):
    return train_model(hotel_reference.sample(8000, random_state=0), small_spec)


def test_model_trained_on_reference_ranks_a_later_batch(model, small_spec, hotel_batch):
    batch = hotel_batch("2016-08")
    scores = score_model("champion", model, batch, small_spec)
    assert scores.model == "champion"
    assert scores.rows == len(batch)
    assert scores.auc > 0.8
    assert scores.auc_low <= scores.auc <= scores.auc_high
    assert 0 < scores.f1 <= 1 and 0 < scores.recall <= 1
    assert scores.bs_rows == 0 and scores.bs_auc is None  # no blind spots given


def test_scores_inside_blind_spots(model, small_spec, hotel_batch):
    batch = hotel_batch("2016-08")
    spot = BlindSpot((Condition("hotel", "==", "Resort Hotel"),), "error", 100, 30, 0.3, 0.2, 0.4, 0.15, 2.0, 1e-5, 0.3)
    scores = score_model("champion", model, batch, small_spec, [spot])
    assert scores.bs_rows == int((batch["hotel"] == "Resort Hotel").sum())
    assert 0.5 < scores.bs_auc <= 1
    assert scores.bs_auc_low <= scores.bs_auc <= scores.bs_auc_high


def test_each_blind_spot_is_scored_on_its_own_rows(model, small_spec, hotel_batch):
    from sklearn.metrics import roc_auc_score

    batch = hotel_batch("2016-08")
    spots = [
        BlindSpot(
            (Condition("hotel", "==", name),), "error", 100, 30, 0.3, 0.2, 0.4, 0.15, 2.0, 1e-5, 0.3, metric=metric
        )
        for name, metric in (("Resort Hotel", "miss"), ("City Hotel", "error"), ("Atlantis", "error"))
    ]
    scores = score_model("champion", model, batch, small_spec, spots)
    resort, city, nowhere = scores.spots
    assert (resort.blind_spot_id, resort.metric, resort.predicate) == (spots[0].id, "miss", "hotel = 'Resort Hotel'")
    y, p = batch[small_spec.target].astype(int), model.predict_proba(batch)
    for spot in (resort, city):
        rows = (batch["hotel"] == spot.predicate.split("'")[1]).to_numpy()
        assert (spot.rows, spot.positives) == (rows.sum(), y[rows].sum())
        assert spot.auc == pytest.approx(roc_auc_score(y[rows], p[rows]))
        assert spot.auc_low < spot.auc < spot.auc_high and spot.recall_low < spot.recall < spot.recall_high
    assert resort.auc != city.auc
    assert nowhere.rows == 0 and nowhere.auc is None and nowhere.f1 is None
    assert scores.bs_rows == len(batch)  # the two hotels together are the whole batch
    assert scores.bs_auc == pytest.approx(scores.auc)
    # as MLflow metrics: one key per blind spot, error metric and measure
    logged = scores_metrics("backtest.champion", scores)
    assert logged[f"backtest.champion.spot.{spots[0].id}.miss.auc"] == resort.auc
    assert logged[f"backtest.champion.spot.{spots[1].id}.error.rows"] == city.rows
    assert logged["backtest.champion.bs_auc"] == scores.bs_auc


def test_model_scores_raw_frames_with_unseen_categories(model, small_spec, hotel_batch):
    batch = hotel_batch("2016-08").head(50)
    batch["country"] = "Atlantis"
    p = model.predict_proba(batch)
    assert p.shape == (50,)
    # a category the model never saw scores exactly as a missing value, not as some other category
    np.testing.assert_array_equal(p, model.predict_proba(batch.assign(country=None)))
    assert not np.allclose(p, model.predict_proba(batch.assign(country="PRT")))
    np.testing.assert_array_equal(model.predict(batch), (p >= model.threshold).astype(int))


def test_training_is_deterministic_for_a_seed(hotel_reference, small_spec, hotel_batch):
    train = hotel_reference.sample(1000, random_state=3)
    spec = replace(small_spec, training=replace(small_spec.training, n_estimators=5))
    batch = hotel_batch("2016-08").head(300)
    a = train_model(train, spec, seed=5).predict_proba(batch)
    b = train_model(train, spec, seed=5).predict_proba(batch)
    np.testing.assert_array_equal(a, b)


def test_recency_weights_favour_the_newest_batches():
    df = pd.DataFrame({BATCH: ["2015-07", "2015-08", "2015-09", "2015-10", "2015-11", "2015-07"]})
    assert recency_weights(df, Recipe(name="r", recency_batches=2, recency_weight=3.0)).tolist() == [1, 1, 1, 3, 3, 1]
    assert recency_weights(df, Recipe(name="r")).tolist() == [1.0] * 6


def test_a_recipe_window_keeps_only_the_newest_batches():
    df = pd.DataFrame({BATCH: ["2015-07", "2015-08", "2015-09", "2015-10", "2015-07"]})
    assert window_rows(df, Recipe(name="w", window=2))[BATCH].tolist() == ["2015-09", "2015-10"]
    assert len(window_rows(df, Recipe(name="all"))) == 5


# -- promotion and the ablation ------------------------------------------------


def scores(auc, bs_auc, name="m"):
    return ModelScores(
        model=name, rows=1000, auc=auc, f1=0.7, recall=0.7, bs_rows=200 if bs_auc is not None else 0, bs_auc=bs_auc
    )


def diff(auc, bs_auc, low=None, bs_low=None):
    """A Comparison with paired intervals: by default the interval is the point +- 0.01."""
    return Comparison(
        rows=1000,
        bs_rows=200 if bs_auc is not None else 0,
        auc_diff=auc,
        auc_diff_low=(auc - 0.01 if low is None else low) if auc is not None else None,
        auc_diff_high=auc + 0.01 if auc is not None else None,
        bs_auc_diff=bs_auc,
        bs_auc_diff_low=(bs_auc - 0.01 if bs_low is None else bs_low) if bs_auc is not None else None,
        bs_auc_diff_high=bs_auc + 0.01 if bs_auc is not None else None,
    )


@pytest.fixture()
def spec(hotel_spec):
    return replace(hotel_spec, promotion=PromotionSettings(auc_tolerance=0.005))


def test_a_newer_challenger_is_served_unless_the_holdout_shows_it_worse(spec):
    promote, reason = gate_verdict(diff(0.01, 0.03), spec)
    assert promote is True and reason.startswith("challenger served") and "+0.0100" in reason
    assert gate_verdict(diff(-0.004, -0.05), spec)[0] is True  # within the tolerance overall
    promote, reason = gate_verdict(diff(-0.03, 0.05), spec)
    assert promote is False and reason.startswith("champion kept")


def test_a_blind_spot_tolerance_when_set_also_guards(spec):
    guarded = replace(spec, promotion=PromotionSettings(auc_tolerance=0.005, blind_spot_tolerance=0.02))
    assert gate_verdict(diff(0.0, -0.01), guarded)[0] is True
    assert gate_verdict(diff(0.0, -0.03), guarded)[0] is False
    assert gate_verdict(diff(0.0, -0.03), spec)[0] is True  # unset: reported, not judged


def test_single_class_holdout_keeps_the_champion(spec):
    promote, reason = gate_verdict(diff(None, None), spec)
    assert promote is False and "single class" in reason


def test_gate_refuses_a_worse_challenger_and_accepts_a_better_one_on_real_data(
    model, small_spec, hotel_batch, hotel_reference
):
    """Constructed on real data: a model trained on shuffled labels must lose to the
    real model on a real later batch, and the real model must beat it."""
    holdout = hotel_batch("2016-08")
    shuffled = hotel_reference.copy()
    shuffled[small_spec.target] = shuffled[small_spec.target].sample(frac=1.0, random_state=0).to_numpy()
    noise = train_model(shuffled.sample(n=4000, random_state=0), small_spec)
    spots = (
        BlindSpot(
            conditions=(Condition("hotel", "==", "Resort Hotel"),),
            kind="error",
            support=0,
            errors=0,
            error_rate=0.0,
            error_low=0.0,
            error_high=0.0,
            overall_error=0.0,
            lift=1.0,
            p_value=1.0,
            positive_share=0.3,
        ),
    )
    worse = compare_models(noise, model, holdout, small_spec, spots, rounds=100)
    assert gate_verdict(worse, small_spec)[0] is False
    assert worse.auc_diff < 0 and worse.auc_diff_high < 0
    better = compare_models(model, noise, holdout, small_spec, spots, rounds=100)
    assert gate_verdict(better, small_spec)[0] is True


def test_the_holdout_prefers_synthetic_rows_only_for_a_blind_spot_gain_within_tolerance(spec):
    real_only = scores(0.88, 0.75, "real_only")
    assert holdout_prefers_synthetic(scores(0.879, 0.78, "with_synthetic"), real_only, spec) is True
    assert holdout_prefers_synthetic(scores(0.87, 0.78, "with_synthetic"), real_only, spec) is False  # costs overall
    assert holdout_prefers_synthetic(scores(0.89, 0.75, "with_synthetic"), real_only, spec) is False  # no spot gain
    assert holdout_prefers_synthetic(scores(0.88, 0.60), scores(0.88, None), spec) is True  # any AUC beats none


def test_synthetic_rows_are_used_as_the_spec_says(spec):
    sure, unsure, none = Pooled(8, 0.004, 0.001, 0.007), Pooled(8, 0.001, -0.002, 0.004), Pooled(1, 0.01, None, None)
    pooled_spec = replace(spec, synthesis=replace(spec.synthesis, use="pooled"))
    assert use_synthetic(False, sure, pooled_spec)[0] is True  # pooled evidence wins over one noisy holdout
    assert use_synthetic(True, unsure, pooled_spec)[0] is False
    assert use_synthetic(True, none, pooled_spec)[0] is False  # no interval yet
    holdout_spec = replace(spec, synthesis=replace(spec.synthesis, use="holdout"))
    assert use_synthetic(True, unsure, holdout_spec)[0] is True
    both = replace(spec, synthesis=replace(spec.synthesis, use="both"))
    assert use_synthetic(True, sure, both)[0] is True and use_synthetic(False, sure, both)[0] is False
    assert "pooled over 8 cycles" in use_synthetic(True, sure, pooled_spec)[1]


@pytest.mark.slow
def test_mlp_family_learns_and_survives_mlflow(hotel_reference, small_spec, hotel_batch, tmp_path):
    """The torch MLP ranks a later real batch far above chance, and round-trips through
    a real MLflow registry (weights saved by torch, loaded with weights_only=True) with the same scores."""
    from factory.core.base.plane import DataPlane
    from factory.core.base.storage import Storage
    from factory.core.registry.mlflow_registry import Registry

    spec = replace(small_spec, training=replace(small_spec.training, model="mlp"))
    model = train_model(hotel_reference.sample(6000, random_state=1), spec)
    batch = hotel_batch("2016-08")
    scores_ = score_model("mlp", model, batch, spec)
    assert scores_.auc > 0.75
    registry = Registry.at(tmp_path / "home", DataPlane(Storage(str(tmp_path / "root")), spec))
    _, version = registry.log_model_run(model, "mlp", {}, {"auc": scores_.auc}, {}, batch[list(spec.features)])
    loaded = registry.load(version)
    np.testing.assert_array_equal(loaded.predict_proba(batch), model.predict_proba(batch))
