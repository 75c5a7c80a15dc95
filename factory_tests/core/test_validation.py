"""The Great Expectations gates: the ingest gate on real hotel batches and the
row-level synthetic gate on rows built from real ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.core.base.dataset import exact_copies
from factory.core.base.types import BlindSpot, Condition
from factory.core.gate.ingest import validate_batch
from factory.core.gate.synthetic import LINEAGE_COLUMNS, gate_synthetic

LATER = "2016-08"  # a real batch after the reference period


def test_reference_period_is_the_first_twelve_batches(hotel_reference, hotel_later):
    assert sorted(hotel_reference["_batch"].unique())[0] == "2015-07"
    assert hotel_reference["_batch"].nunique() == 12
    assert hotel_later[0] == "2016-07"


def test_real_later_batch_passes(hotel_spec, hotel_profile, hotel_batch):
    outcome = validate_batch(LATER, hotel_batch(LATER), hotel_spec, hotel_profile)
    assert outcome.passed, outcome.failures
    assert outcome.failures == ()
    assert outcome.batch_id == LATER
    assert outcome.rows == len(hotel_batch(LATER))
    assert outcome.expectations > len(hotel_spec.required_columns)


def test_missing_column_fails_naming_batch_and_column(hotel_spec, hotel_profile, hotel_batch):
    batch = hotel_batch(LATER).drop(columns=["lead_time"])
    outcome = validate_batch(LATER, batch, hotel_spec, hotel_profile)
    assert outcome.passed is False
    assert any(
        f.startswith(f"batch {LATER}:") and "'lead_time'" in f and "expect_column_to_exist" in f
        for f in outcome.failures
    ), outcome.failures
    assert all("lead_time" in f for f in outcome.failures)  # nothing else is blamed


def test_numeric_column_as_text_fails_naming_batch_and_column(hotel_spec, hotel_profile, hotel_batch):
    batch = hotel_batch(LATER)
    batch["adr"] = batch["adr"].astype(str)
    outcome = validate_batch(LATER, batch, hotel_spec, hotel_profile)
    assert outcome.passed is False
    assert len(outcome.failures) == 1, outcome.failures
    failure = outcome.failures[0]
    assert f"batch {LATER}" in failure
    assert "column 'adr'" in failure
    assert "type" in failure


def test_empty_frame_fails_naming_batch(hotel_spec, hotel_profile, hotel_batch):
    empty = hotel_batch(LATER).iloc[:0]
    outcome = validate_batch(LATER, empty, hotel_spec, hotel_profile)
    assert outcome.passed is False
    assert outcome.rows == 0
    assert any(f"batch {LATER}" in f and "row_count" in f for f in outcome.failures), outcome.failures


def test_a_column_all_null_is_blocking(hotel_spec, hotel_profile, hotel_batch):
    batch = hotel_batch(LATER)
    batch["hotel"] = None
    outcome = validate_batch(LATER, batch, hotel_spec, hotel_profile)
    assert outcome.passed is False
    assert any("column 'hotel'" in f and "not_be_null" in f for f in outcome.failures), outcome.failures


def test_unseen_categories_warn_but_a_recoded_column_is_rejected(hotel_spec, hotel_profile, hotel_batch):
    batch = hotel_batch(LATER)
    batch.loc[:20, "meal"] = "Space food"  # a few new values: a new product, flagged
    outcome = validate_batch(LATER, batch, hotel_spec, hotel_profile)
    assert outcome.passed, outcome.failures
    assert any("unseen_category: column 'meal'" in w for w in outcome.warnings), outcome.warnings
    batch["meal"] = batch["meal"].map({"BB": "bed+breakfast"}).fillna("other")  # the coding changed upstream
    outcome = validate_batch(LATER, batch, hotel_spec, hotel_profile)
    assert outcome.passed is False and outcome.codes == ("recoded",), outcome.failures


# -- the synthetic gate ---------------------------------------------------------

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
def real_training(hotel_reference):
    return hotel_reference.sample(4000, random_state=1).reset_index(drop=True)


@pytest.fixture()
def synthetic(real_training, hotel_spec, hotel_profile):
    """Eight rows built from real City Hotel rows, adr nudged so none is a copy."""
    ok = (real_training["hotel"] == "City Hotel") & real_training["adr"].between(20, 200)
    for cp in hotel_profile.columns:
        if cp.kind == "categorical":
            ok &= real_training[cp.name].isna() | real_training[cp.name].isin(cp.categories)
    rows = real_training.loc[ok, list(hotel_spec.features) + [hotel_spec.target]].head(8).reset_index(drop=True)
    assert len(rows) == 8
    rows["adr"] = rows["adr"] + 0.37
    lineage = dict(
        _synthetic=True,
        _generator="test",
        _generator_version="0",
        _seed=0,
        _blind_spot_id=SPOT.id,
        _cycle="2016-08",
        _fitted_on="0123456789abcdef",
    )
    for col, value in lineage.items():
        rows[col] = value
    assert set(LINEAGE_COLUMNS) <= set(rows.columns)
    return rows


def gate(synthetic, real_training, hotel_spec, hotel_profile):
    return gate_synthetic("2016-08", synthetic, real_training, hotel_spec, hotel_profile, [SPOT])


def test_clean_synthetic_rows_are_all_accepted(synthetic, real_training, hotel_spec, hotel_profile):
    accepted, outcome = gate(synthetic, real_training, hotel_spec, hotel_profile)
    assert outcome.passed
    assert outcome.rows_dropped == 0, outcome.warnings
    pd.testing.assert_frame_equal(accepted, synthetic)


def test_gate_drops_each_kind_of_bad_row(synthetic, real_training, hotel_spec, hotel_profile):
    syn = synthetic.copy()
    syn.loc[1, "hotel"] = "Resort Hotel"  # leaves its blind spot's predicate
    syn.loc[2, "adr"] -= 0.37  # an exact copy of a real training row again
    syn.loc[3, ["adults", "children", "babies"]] = 0.0  # breaks "adults + children + babies >= 1"
    syn.loc[4, "meal"] = "Space food"  # a category the reference never had
    syn.loc[5, hotel_spec.target] = 0.5  # not a label

    accepted, outcome = gate(syn, real_training, hotel_spec, hotel_profile)

    assert outcome.passed  # row-level problems drop rows, they do not fail the batch
    assert outcome.rows == 8
    assert outcome.rows_dropped == 5
    assert len(accepted) == 3
    pd.testing.assert_frame_equal(accepted, syn.loc[[0, 6, 7]].reset_index(drop=True))
    reasons = " | ".join(outcome.warnings)
    assert f"predicate of {SPOT.id} (hotel = 'City Hotel')" in reasons
    assert "exact copy of a real training row" in reasons
    assert "rule 'adults + children + babies >= 1'" in reasons
    assert "column 'meal'" in reasons
    assert f"column '{hotel_spec.target}'" in reasons


def test_generator_style_integer_copy_is_still_a_copy(synthetic, real_training, hotel_spec, hotel_profile):
    """The generator emits integer columns as int64 where real rows hold floats, and
    missing categories as NaN where real rows hold None: a copy is a copy all the same."""
    syn = synthetic.copy()
    syn.loc[0, "adr"] -= 0.37
    for col in hotel_spec.integer:
        syn[col] = syn[col].astype("int64")
    syn["company"] = syn["company"].astype(object).where(syn["company"].notna(), np.nan)

    accepted, outcome = gate(syn, real_training, hotel_spec, hotel_profile)

    assert outcome.rows_dropped == 1, outcome.warnings
    assert "exact copy of a real training row" in " ".join(outcome.warnings)
    assert len(accepted) == 7


def test_rows_of_unknown_blind_spots_are_not_judged_by_a_predicate(synthetic, real_training, hotel_spec, hotel_profile):
    syn = synthetic.copy()
    syn["_blind_spot_id"] = "not-a-spot"
    syn.loc[0, "hotel"] = "Resort Hotel"
    accepted, outcome = gate(syn, real_training, hotel_spec, hotel_profile)
    assert outcome.rows_dropped == 0
    assert len(accepted) == 8


def test_missing_lineage_column_rejects_the_batch(synthetic, real_training, hotel_spec, hotel_profile):
    syn = synthetic.drop(columns=["_blind_spot_id"])
    accepted, outcome = gate(syn, real_training, hotel_spec, hotel_profile)
    assert outcome.passed is False
    assert accepted.empty
    assert outcome.rows_dropped == len(syn)
    assert any("'_blind_spot_id'" in f and "expect_column_to_exist" in f for f in outcome.failures), outcome.failures


def test_missing_feature_column_rejects_the_batch(synthetic, real_training, hotel_spec, hotel_profile):
    syn = synthetic.drop(columns=["adults"])
    accepted, outcome = gate(syn, real_training, hotel_spec, hotel_profile)
    assert outcome.passed is False
    assert accepted.empty
    assert all("'adults'" in f for f in outcome.failures) and outcome.failures


def test_empty_synthetic_frame_passes_with_nothing(real_training, hotel_spec, hotel_profile):
    accepted, outcome = gate_synthetic("2016-08", pd.DataFrame(), real_training, hotel_spec, hotel_profile, [SPOT])
    assert accepted.empty
    assert outcome.passed and outcome.rows == 0


def test_exact_copies_ignores_dtype_and_kind_of_missing():
    real = pd.DataFrame({"n": [1.0, 2.0, np.nan], "c": ["x", None, "z"]})
    synthetic = pd.DataFrame({"n": pd.array([1, 2, None, 2], dtype="Int64"), "c": ["x", np.nan, "z", "x"]})
    assert exact_copies(synthetic, real, ["n", "c"]).tolist() == [True, True, True, False]
