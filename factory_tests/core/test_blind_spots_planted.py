"""Planted blind spots on real hotel data: break a random readable slice in the
model's training data, train, and check discovery on a later real batch reports it
(or a slice overlapping it with Jaccard >= 0.5). Discovery is what the factory runs:
error slices of the model, and coverage gaps of the batch against the rows the model
was trained on (a removed slice is one: production covers ground training never saw)."""

from __future__ import annotations

import numpy as np
import pytest

from factory.core.base.spec import replace
from factory.core.base.types import conditions_mask
from factory.core.discover.coverage import find_coverage_gaps
from factory.core.discover.error_slices import find_blind_spots
from factory.core.discover.ranking import _jaccard, predicate_columns
from factory.core.discover.scan import encode, scan
from factory.core.learn.recipe import train_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spec(hotel_spec):
    return replace(hotel_spec, training=replace(hotel_spec.training, n_estimators=100, learning_rate=0.1))


@pytest.fixture(scope="module")
def candidates(hotel_reference, hotel_profile, spec):
    """Readable 1- and 2-condition slices holding 3-25% of the reference, with the gap
    between their positive rate and the rest's."""
    table = scan(
        encode(hotel_reference, hotel_profile), {"positives": hotel_reference[spec.target].to_numpy(dtype=float)}, 1
    )
    share = table["support"] / len(hotel_reference)
    table = table[(share >= 0.03) & (share <= 0.25)]
    gap = (table["positives"] / table["support"] - hotel_reference[spec.target].mean()).abs()
    return list(zip(table["conditions"], gap))


@pytest.mark.parametrize(
    "seed, n_conditions, method", [(1, 1, "flip"), (2, 2, "flip"), (3, 2, "flip"), (4, 2, "remove")]
)
def test_planted_slice_is_reported(
    seed, n_conditions, method, spec, candidates, hotel_reference, hotel_profile, hotel_later, hotel_batch
):
    rng = np.random.default_rng(seed)
    batch = hotel_batch(hotel_later[1])
    wide = np.quantile([gap for _, gap in candidates], 0.9)  # removal: among the 10% most distinct slices
    pool = [
        c
        for c, gap in candidates
        if len(predicate_columns(c)) == n_conditions
        and (method == "flip" or gap >= wide)
        and conditions_mask(c, batch).sum() >= 2 * spec.blind_spots.min_support
    ]
    conditions = pool[rng.integers(len(pool))]
    train = hotel_reference.copy()
    inside = conditions_mask(conditions, train).to_numpy()
    if method == "flip":  # 80% of the slice's labels flipped
        flip = inside & (rng.random(len(train)) < 0.8)
        train.loc[flip, spec.target] = 1 - train.loc[flip, spec.target]
    else:  # the slice removed: the model has never seen it
        train = train[~inside]
    model = train_model(train, spec)
    errors = model.predict(batch) != batch[spec.target].astype(int).to_numpy()

    spots = find_blind_spots(batch, errors, spec, hotel_profile, reference=train).blind_spots
    spots += find_coverage_gaps(batch, train, spec, hotel_profile, proba=model.predict_proba(batch)).blind_spots

    truth = conditions_mask(conditions, batch).to_numpy()
    overlaps = [_jaccard(s.mask(batch).to_numpy(), truth) for s in spots]
    planted = " AND ".join(c.text() for c in conditions)
    assert max(overlaps, default=0.0) >= 0.5, f"{planted} not found in {[s.predicate for s in spots]}"
    found = spots[int(np.argmax(overlaps))]
    assert found.lift > 1 and found.p_value < 0.05
    if method == "flip":
        assert found.kind == "error"
    else:  # training (nearly) never saw it: far denser in production, and a deficit to fill
        assert found.kind == "coverage" and found.lift >= 10 and found.deficit > 0
