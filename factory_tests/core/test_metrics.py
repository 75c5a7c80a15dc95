"""The vectorised bootstrap metrics agree with scikit-learn, resample by resample."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    recall_score,
    roc_auc_score,
)

from factory.core.measure.metrics import (
    classifier_metrics,
    resample_chunks,
    resample_counts,
)


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(7)
    y = (rng.random(3000) < 0.3).astype(int)
    p = np.round(np.clip(0.25 * y + 0.75 * rng.random(3000), 0, 1), 2)  # rounded: many tied scores
    return y, p, (p >= 0.5).astype(int)


def test_resamples_are_counts_of_rows_drawn_with_replacement():
    w = resample_counts(50, 30, seed=0)
    assert w.shape == (31, 50)
    assert (w[0] == 1).all()  # row 0: the sample itself
    assert (w.sum(axis=1) == 50).all()
    assert len({tuple(r) for r in w[1:]}) == 30


@pytest.mark.parametrize("row", [0, 1, 17])
def test_every_metric_matches_scikit_learn_on_a_resample(scored, row):
    y, p, pred = scored
    w = resample_counts(len(y), 20, seed=3)
    idx = np.repeat(np.arange(len(y)), w[row])  # the resample as explicit rows
    out = classifier_metrics(y, p, pred, w[row : row + 1], q=p)
    assert out["auc"][0] == pytest.approx(roc_auc_score(y[idx], p[idx]), abs=1e-12)
    assert out["pr_auc"][0] == pytest.approx(average_precision_score(y[idx], p[idx]), abs=1e-12)
    assert out["f1"][0] == pytest.approx(f1_score(y[idx], pred[idx]), abs=1e-12)
    assert out["recall"][0] == pytest.approx(recall_score(y[idx], pred[idx]), abs=1e-12)
    assert out["brier"][0] == pytest.approx(brier_score_loss(y[idx], p[idx]), abs=1e-12)


def test_intervals_bracket_the_value_and_narrow_with_more_rows(scored):
    y, p, pred = scored
    wide = classifier_metrics(y[:300], p[:300], pred[:300], resample_counts(300, 200, seed=1))
    narrow = classifier_metrics(y, p, pred, resample_counts(len(y), 200, seed=1))
    for name in ("auc", "pr_auc", "f1", "recall"):
        value, low, high = narrow[name]
        assert low < value < high
        assert high - low < wide[name][2] - wide[name][1]


def test_a_single_class_has_no_ranking_metric():
    y, p = np.zeros(40, dtype=int), np.linspace(0, 1, 40)
    out = classifier_metrics(y, p, (p >= 0.5).astype(int), resample_counts(40, 50, seed=0))
    assert out["auc"] == (None, None, None) and out["pr_auc"] == (None, None, None)
    assert out["recall"] == (None, None, None)
    assert out["f1"][0] == 0.0  # scikit-learn's zero_division=0


def test_chunked_resamples_are_the_same_resamples():
    """Bounding memory does not change the intervals: the chunks are the one matrix, cut."""
    whole = resample_counts(1000, 200, seed=5)
    chunks = list(resample_chunks(1000, 200, seed=5, max_cells=30_000))
    assert len(chunks) > 5 and max(c.size for c in chunks) <= 30_000
    assert np.array_equal(np.vstack(chunks), whole)
