"""CBPE-style estimation on batches whose true performance is known: the labels are
drawn from the probabilities themselves, so the probabilities are calibrated by
construction and realised performance has a known distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score, roc_auc_score

from factory.core.base.errors import FactoryError
from factory.core.monitor.estimation import (
    estimate_for,
    estimate_performance,
    realised_performance,
    with_realised,
)

N = 3000


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    p = rng.beta(2, 3, N)
    decisions = p >= 0.4
    realised = []
    for seed in range(300):  # independent label draws: the truth the estimator aims at
        y = np.random.default_rng(1000 + seed).random(N) < p
        realised.append(realised_performance(y, p, decisions))
    return p, decisions, {k: np.array([r[k] for r in realised]) for k in ("auc", "f1", "recall")}


def test_estimate_matches_the_known_expected_performance(batch):
    p, decisions, realised = batch
    estimate = estimate_performance(p, decisions)
    assert estimate.rows == N and estimate.expected_positive_rate == pytest.approx(p.mean())
    assert estimate.auc == pytest.approx(realised["auc"].mean(), abs=0.003)
    assert estimate.f1 == pytest.approx(realised["f1"].mean(), abs=0.003)
    assert estimate.recall == pytest.approx(realised["recall"].mean(), abs=0.003)


def test_intervals_cover_realised_performance(batch):
    p, decisions, realised = batch
    estimate = estimate_performance(p, decisions)
    for metric in ("auc", "f1", "recall"):
        low, high = getattr(estimate, f"{metric}_low"), getattr(estimate, f"{metric}_high")
        coverage = np.mean((realised[metric] >= low) & (realised[metric] <= high))
        assert 0.9 <= coverage <= 0.99, (metric, coverage)
        assert low < getattr(estimate, metric) < high


def test_realised_performance_matches_sklearn():
    rng = np.random.default_rng(3)
    scores = rng.random(500)
    y = rng.random(500) < scores
    decisions = scores >= 0.5
    real = realised_performance(y, scores, decisions)
    assert real["auc"] == pytest.approx(roc_auc_score(y, scores))
    assert real["f1"] == pytest.approx(f1_score(y, decisions))
    assert real["recall"] == pytest.approx(recall_score(y, decisions))


def test_estimate_records_realised_beside_it():
    rng = np.random.default_rng(4)
    p = rng.beta(2, 5, 800)
    y = rng.random(800) < p
    estimate = with_realised(estimate_performance(p, p >= 0.3), y, p, p >= 0.3)
    assert estimate.realised_auc == pytest.approx(roc_auc_score(y, p))
    assert abs(estimate.realised_auc - estimate.auc) < 0.05


def test_a_perfectly_confident_model_is_estimated_perfect():
    p = np.r_[np.zeros(50), np.ones(50)]
    estimate = estimate_performance(p, p >= 0.5)
    assert estimate.auc == 1.0 and estimate.f1 == 1.0 and estimate.recall == 1.0


def test_one_class_batch_has_no_auc_and_bad_input_is_refused():
    assert estimate_performance(np.zeros(10), np.zeros(10)).auc is None
    with pytest.raises(FactoryError, match="probabilities"):
        estimate_performance(np.array([0.2, np.nan]), np.array([0, 1]))
    with pytest.raises(FactoryError, match="no rows"):
        estimate_performance(np.array([]), np.array([]))


def test_recalibration_on_the_newest_labels_tracks_concept_drift():
    """The world changed P(y | x) after training: the newest labelled batch carries the
    change, so recalibrating on it brings the estimate close to realised ROC AUC."""
    from factory.core.base.dataset import BATCH
    from factory.core.base.spec import (
        DatasetSpec,
        SourceSpec,
        TimeSpec,
        TrainingSettings,
    )
    from factory.core.learn.recipe import train_model

    spec = DatasetSpec(
        name="toy",
        source=SourceSpec(path="unused.csv"),
        target="y",
        positive_label=1,
        time=TimeSpec(month="month", start_year=2015),
        numeric=("x",),
        categorical=(),
        training=TrainingSettings(n_estimators=40),
    )

    def world(n: int, seed: int, noise: float) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        x = rng.normal(0, 1, n)
        p = 1 / (1 + np.exp(-4 * x))
        p = (1 - noise) * p + noise * 0.5  # labels get noisier: the same x says less about y
        return pd.DataFrame({"x": x, "y": (rng.random(n) < p).astype(float), BATCH: "2015-01"})

    model = train_model(world(4000, 0, noise=0.0), spec)
    newest, current = world(3000, 1, noise=0.5), world(3000, 2, noise=0.5)
    naive = estimate_for(model, current, "y")
    recalibrated = estimate_for(model, current, "y", calibration=newest)
    assert recalibrated.realised_auc is not None
    assert abs(recalibrated.auc - recalibrated.realised_auc) < 0.02
    assert abs(naive.auc - naive.realised_auc) > 3 * abs(recalibrated.auc - recalibrated.realised_auc)
