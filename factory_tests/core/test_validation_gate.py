"""The ingest gate end to end on landed bytes (the acceptance cases of the validation
gate: each broken batch gets its verdict and the quarantine holds its original bytes),
and the synthetic gate's removal of copies and real PII values.
test_validation.py covers the suites on frames; this file covers landing and quarantine."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from factory.core.base.plane import DataPlane
from factory.core.base.spec import replace
from factory.core.base.storage import Storage
from factory.core.base.types import BlindSpot, Condition
from factory.core.gate.ingest import gate_landed
from factory.core.gate.synthetic import gate_synthetic

LATER = "2016-08"
ID = "booking_ref"  # an id column the tests add (the hotel data has none)


@pytest.fixture(scope="module")
def spec(hotel_spec):
    return replace(hotel_spec, ids=(ID,))


@pytest.fixture(scope="module")
def clean(hotel_batch):
    """400 rows of a real later batch as landed: an id column, raw column order."""
    rows = hotel_batch(LATER).head(400).drop(columns=["_batch"])
    rows.insert(0, ID, np.arange(len(rows)))
    return rows


def _csv(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode()


def _gate(tmp_path, spec, profile, data: bytes, columns: list[str]):
    """Land the bytes and judge them as the loop does (the reference holds `columns`, in
    that order); quarantine on failure."""
    plane = DataPlane(Storage(str(tmp_path)), spec)
    plane.write_reference(pd.DataFrame(columns=[*columns, "_batch"]), profile)
    plane.land(LATER, data, "csv")
    outcome = gate_landed(plane, LATER)
    if not outcome.passed:
        plane.quarantine(outcome)
    return plane, outcome


def _missing_column(df):
    return df.drop(columns=["lead_time"])


def _wrong_dtype(df):
    return df.assign(adr="cheap")


def _all_null(df):
    return df.assign(children=np.nan)  # rarely null in reference (not never): all null still blocks


def _duplicated_ids(df):
    out = df.copy()
    out.loc[5, ID] = out.loc[4, ID]
    return out


def _label_three_ways(df):
    return df.assign(is_canceled=np.array(["yes", "true", "1"], dtype=object)[np.arange(len(df)) % 3])


BLOCKING = {
    "label spelled three ways": (_label_three_ways, "label_coding: column 'is_canceled': a binary label with 3"),
    "missing column": (_missing_column, "column 'lead_time': expect_column_to_exist"),
    "wrong dtype": (_wrong_dtype, "column 'adr': expect_column_values_to_be_in_type_list"),
    "all-null column": (_all_null, "column 'children': expect_column_values_to_not_be_null"),
    "duplicated ids": (_duplicated_ids, f"column '{ID}': expect_column_values_to_be_unique"),
}


@pytest.mark.parametrize("case", sorted(BLOCKING))
def test_broken_batch_is_blocked_and_quarantined_with_its_bytes(case, tmp_path, spec, hotel_profile, clean):
    breaks, expected = BLOCKING[case]
    data = _csv(breaks(clean))
    plane, outcome = _gate(tmp_path, spec, hotel_profile, data, list(clean.columns))
    assert outcome.passed is False
    assert any(expected in f and f.startswith(f"batch {LATER}:") for f in outcome.failures), outcome.failures
    assert plane.storage.read_bytes(f"quarantine/{LATER}/{LATER}.csv") == data
    assert plane.storage.read_json(f"quarantine/{LATER}/validation.json")["failures"] == list(outcome.failures)


def test_empty_file_lands_and_is_quarantined_with_one_reason(tmp_path, spec, hotel_profile, clean):
    plane, outcome = _gate(tmp_path, spec, hotel_profile, b"", list(clean.columns))
    assert outcome.passed is False and outcome.rows == 0 and not outcome.held
    assert outcome.failures == (f"batch {LATER}: empty_file: file: the file is empty (0 bytes)",)
    assert plane.storage.read_bytes(f"quarantine/{LATER}/{LATER}.csv") == b""


def test_clean_small_batch_passes_and_its_size_warns(tmp_path, spec, hotel_profile, clean):
    plane, outcome = _gate(tmp_path, spec, hotel_profile, _csv(clean), list(clean.columns))
    assert outcome.passed, outcome.failures
    assert not any("ordered_list" in w for w in outcome.warnings), outcome.warnings
    # 400 rows is under a tenth of the mean reference batch (~4100 rows): flagged, not blocked
    assert any("expect_table_row_count_to_be_between: observed 400" in w for w in outcome.warnings), outcome.warnings
    assert not plane.storage.exists(f"quarantine/{LATER}/validation.json")


def test_one_row_of_a_new_category_is_flagged_not_accepted_silently(tmp_path, spec, hotel_profile, clean):
    batch = clean.copy()
    batch.loc[7, "meal"] = "Space food"
    _, outcome = _gate(tmp_path, spec, hotel_profile, _csv(batch), list(clean.columns))
    assert outcome.passed, outcome.failures
    assert any("column 'meal'" in w and "Space food" in w for w in outcome.warnings), outcome.warnings


def test_reordered_columns_and_broken_business_rule_warn(tmp_path, spec, hotel_profile, clean):
    batch = clean[list(reversed(clean.columns))].copy()
    batch.loc[3, ["adults", "children", "babies"]] = 0
    _, outcome = _gate(tmp_path, spec, hotel_profile, _csv(batch), list(clean.columns))
    assert outcome.passed, outcome.failures
    assert any("expect_table_columns_to_match_ordered_list" in w for w in outcome.warnings), outcome.warnings
    assert any("rule 'adults + children + babies >= 1': 1 row(s)" in w for w in outcome.warnings), outcome.warnings


def test_values_far_outside_the_reference_range_are_held_until_accepted(tmp_path, spec, hotel_profile, clean):
    batch = clean.assign(lead_time=clean["lead_time"] + 10_000)
    plane, outcome = _gate(tmp_path, spec, hotel_profile, _csv(batch), list(clean.columns))
    assert outcome.passed is False and outcome.held and outcome.codes == ("out_of_range",), outcome.failures
    assert outcome.reason.startswith(f"batch {LATER}: out_of_range: column 'lead_time': expect_column_values_to_be")
    verdict = plane.quarantined(LATER)
    assert verdict["held"] and verdict["sha256"] == plane.landing_manifest(LATER)["sha256"]
    plane.accept(LATER, "a new long-lead product, checked with sales")
    accepted = gate_landed(plane, LATER)
    assert accepted.passed and accepted.accepted.startswith("a new long-lead")
    assert any(w.startswith(f"batch {LATER}: out_of_range:") and "[accepted:" in w for w in accepted.warnings)


def test_a_spec_that_blocks_poison_rejects_instead_of_holding(tmp_path, spec, hotel_profile, clean):
    blocking = replace(spec, gate=replace(spec.gate, on_poison="block"))
    batch = clean.assign(lead_time=clean["lead_time"] + 10_000)
    _, outcome = _gate(tmp_path, blocking, hotel_profile, _csv(batch), list(clean.columns))
    assert outcome.passed is False and not outcome.held and outcome.codes == ("out_of_range",)


# -- the synthetic gate: copies and PII ----------------------------------------------

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
LINEAGE = dict(_synthetic=True, _generator="test", _generator_version="0", _seed=0, _cycle=LATER, _fitted_on="0" * 16)


def _synthetic_from(real: pd.DataFrame, spec, n: int, seed: int) -> pd.DataFrame:
    """City Hotel rows drawn from real ones, adr nudged so none is a copy, with lineage."""
    rng = np.random.default_rng(seed)
    pool = real[(real["hotel"] == "City Hotel") & real["adr"].between(20, 200)]
    rows = pool.sample(n, random_state=seed)[list(spec.features) + [spec.target]].reset_index(drop=True)
    rows["adr"] = rows["adr"] + rng.uniform(0.1, 0.9, n).round(3)
    return rows.assign(_blind_spot_id=SPOT.id, **LINEAGE)


def test_injected_copies_of_training_rows_are_removed(hotel_spec, hotel_profile, hotel_reference):
    train = hotel_reference.sample(3000, random_state=3).reset_index(drop=True)
    synthetic = _synthetic_from(train, hotel_spec, 60, seed=4)
    city = train[(train["hotel"] == "City Hotel") & train["adr"].between(20, 200)]
    copies = city.head(5)[list(hotel_spec.features) + [hotel_spec.target]].assign(_blind_spot_id=SPOT.id, **LINEAGE)
    batch = pd.concat([synthetic, copies], ignore_index=True)
    accepted, outcome = gate_synthetic(LATER, batch, train, hotel_spec, hotel_profile, [SPOT])
    assert outcome.rows_dropped == 5
    assert "5 row(s) dropped: exact copy of a real training row" in outcome.warnings
    pd.testing.assert_frame_equal(accepted, synthetic)


def test_real_pii_values_never_reach_synthetic_output(hotel_spec, hotel_profile, hotel_reference):
    spec = replace(hotel_spec, pii=("guest_email",))
    train = hotel_reference.sample(2000, random_state=5).reset_index(drop=True)
    train["guest_email"] = [f"guest{i}@example.org" for i in range(len(train))]
    synthetic = _synthetic_from(train, spec, 20, seed=6)
    synthetic["guest_email"] = [f"fake{i}@example.org" for i in range(20)]
    synthetic.loc[[2, 9], "guest_email"] = train["guest_email"].iloc[[10, 11]].to_numpy()
    accepted, outcome = gate_synthetic(LATER, synthetic, train, spec, hotel_profile, [SPOT])
    assert outcome.rows_dropped == 2
    assert "2 row(s) dropped: PII column 'guest_email' holds a real value" in outcome.warnings
    assert not accepted["guest_email"].isin(set(train["guest_email"])).any()
