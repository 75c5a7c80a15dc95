"""Training, scoring on real rows, and the promotion and ablation rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import BATCH
from factory.core.base.spec import PromotionSettings, replace
from factory.core.base.types import BlindSpot, Comparison, Condition, ModelScores
from factory.core.flywheel.retraining import scores_metrics
from factory.core.learn.judge import split_holdout
from factory.core.learn.promotion import decide_promotion, prefer_synthetic
from factory.core.learn.recipe import recency_weights, train_model
from factory.core.learn.scoring import compare_models, score_model


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


def test_recency_weights_favour_the_newest_batches(hotel_spec):
    df = pd.DataFrame({BATCH: ["2015-07", "2015-08", "2015-09", "2015-10", "2015-11", "2015-07"]})
    spec = replace(hotel_spec, training=replace(hotel_spec.training, recency_batches=2, recency_weight=3.0))
    assert recency_weights(df, spec).tolist() == [1.0, 1.0, 1.0, 3.0, 3.0, 1.0]
    none = replace(hotel_spec, training=replace(hotel_spec.training, recency_batches=0))
    assert recency_weights(df, none).tolist() == [1.0] * 6


# -- split_holdout -------------------------------------------------------------


def test_split_holdout_is_disjoint_and_complete(hotel_batch):
    batch = hotel_batch("2016-08")
    discovery, holdout = split_holdout(batch, 0.5, seed=7)
    assert set(discovery.index).isdisjoint(holdout.index)
    assert sorted(discovery.index.append(holdout.index)) == list(batch.index)
    assert 0.4 < len(holdout) / len(batch) < 0.6


def test_split_holdout_is_deterministic_for_a_seed(hotel_batch):
    batch = hotel_batch("2016-08")
    d1, h1 = split_holdout(batch, 0.5, seed=7)
    d2, h2 = split_holdout(batch, 0.5, seed=7)
    _, h3 = split_holdout(batch, 0.5, seed=8)
    assert list(h1.index) == list(h2.index)
    assert list(d1.index) == list(d2.index)
    assert list(h1.index) != list(h3.index)


def test_split_holdout_share_extremes(hotel_batch):
    batch = hotel_batch("2016-08").head(100)
    assert len(split_holdout(batch, 0.0)[1]) == 0
    assert len(split_holdout(batch, 1.0)[0]) == 0


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
    return replace(hotel_spec, promotion=PromotionSettings(auc_tolerance=0.005, blind_spot_margin=0.0))


def test_worse_challenger_is_refused(spec):
    promote, reason = decide_promotion(diff(-0.03, -0.05), spec)
    assert promote is False
    assert reason.startswith("champion kept")


def test_better_challenger_is_promoted(spec):
    promote, reason = decide_promotion(diff(0.01, 0.03), spec)
    assert promote is True
    assert reason.startswith("challenger wins")
    assert "+0.0300" in reason and "+0.0100" in reason


def test_challenger_within_tolerance_overall_and_better_in_blind_spots_wins(spec):
    assert decide_promotion(diff(-0.003, 0.05), spec)[0] is True


def test_challenger_losing_too_much_overall_is_refused_despite_blind_spots(spec):
    assert decide_promotion(diff(-0.01, 0.15), spec)[0] is False


def test_blind_spot_gain_inside_the_noise_is_not_a_gain(spec):
    assert decide_promotion(diff(0.02, 0.005, bs_low=-0.01), spec)[0] is False


def test_blind_spot_margin_is_required(hotel_spec):
    spec = replace(hotel_spec, promotion=PromotionSettings(auc_tolerance=0.005, blind_spot_margin=0.02))
    assert decide_promotion(diff(0.0, 0.015), spec)[0] is False
    assert decide_promotion(diff(0.0, 0.03), spec)[0] is True


def test_without_blind_spot_rows_the_overall_gain_must_be_significant(spec):
    promote, reason = decide_promotion(diff(0.02, None), spec)
    assert promote is True and "no blind-spot rows" in reason
    assert decide_promotion(diff(0.005, None, low=-0.002), spec)[0] is False


def test_single_class_holdout_keeps_the_champion(spec):
    promote, reason = decide_promotion(diff(None, None), spec)
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
    assert decide_promotion(worse, small_spec)[0] is False
    assert worse.auc_diff < 0 and worse.auc_diff_high < 0
    better = compare_models(model, noise, holdout, small_spec, spots, rounds=100)
    assert decide_promotion(better, small_spec)[0] is True


def test_prefer_synthetic_needs_a_blind_spot_gain_within_tolerance(spec):
    real_only = scores(0.88, 0.75, "real_only")
    assert prefer_synthetic(scores(0.879, 0.78, "with_synthetic"), real_only, spec) is True
    assert prefer_synthetic(scores(0.87, 0.78, "with_synthetic"), real_only, spec) is False  # costs too much overall
    assert prefer_synthetic(scores(0.89, 0.75, "with_synthetic"), real_only, spec) is False  # no blind-spot gain
    assert prefer_synthetic(scores(0.89, 0.74, "with_synthetic"), real_only, spec) is False
    assert prefer_synthetic(scores(0.88, 0.60), scores(0.88, None), spec) is True  # any AUC beats none
    assert prefer_synthetic(scores(0.88, None), scores(0.88, None), spec) is False


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
