"""Loading a dataset spec: both shipped specs load; mistakes are refused by name."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from factory.core.base.errors import SpecError
from factory.core.base.spec import GENERATORS, DatasetSpec, load_spec, replace

SPECS = Path(__file__).resolve().parents[2] / "specs"
HOTEL_TEXT = (SPECS / "hotel.yaml").read_text()


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def edited(old: str, new: str) -> str:
    assert HOTEL_TEXT.count(old) == 1, f"hotel.yaml no longer contains {old!r} exactly once"
    return HOTEL_TEXT.replace(old, new)


def test_hotel_spec_loads():
    spec = load_spec(SPECS / "hotel.yaml")
    assert isinstance(spec, DatasetSpec)
    assert spec.name == "hotel"
    assert spec.target == "is_canceled"
    assert spec.positive_label == 1
    assert "lead_time" in spec.numeric and "agent" in spec.categorical
    assert spec.features == spec.numeric + spec.categorical
    assert spec.time_columns == ("arrival_date_year", "arrival_date_month", "arrival_date_day_of_month")
    assert "booking_changes" in spec.leakage
    assert spec.rules and spec.spec_path.endswith("hotel.yaml")


def test_bank_spec_loads():
    spec = load_spec(SPECS / "bank.yaml")
    assert spec.name == "bank"
    assert spec.target == "y"
    assert spec.positive_label == "yes"
    assert spec.time.year is None and spec.time.start_year == 2008
    assert spec.source.options == {"sep": ";"}
    assert spec.leakage == ("duration",)
    assert "duration" not in spec.features


def test_unset_sections_take_defaults():
    spec = load_spec(SPECS / "bank.yaml")  # bank.yaml has no `training:` section
    assert spec.training.n_estimators == 150
    assert spec.promotion.auc_tolerance == 0.005


def test_copied_spec_text_loads_from_tmp(tmp_path):
    spec = load_spec(write_spec(tmp_path, HOTEL_TEXT))
    assert spec.name == "hotel"
    assert spec.spec_path == str(tmp_path / "spec.yaml")


def test_unknown_top_level_key_is_named(tmp_path):
    path = write_spec(tmp_path, HOTEL_TEXT + "\ncolour_scheme: blue\n")
    with pytest.raises(SpecError, match="colour_scheme"):
        load_spec(path)


def test_misspelt_top_level_key_is_named(tmp_path):
    path = write_spec(tmp_path, edited("label_delay: 1 ", "label_dealy: 1 "))
    with pytest.raises(SpecError, match="label_dealy"):
        load_spec(path)


def test_unknown_nested_key_is_named_with_its_section(tmp_path):
    path = write_spec(tmp_path, HOTEL_TEXT + "\ntraining:\n  n_estimator: 10\n")
    with pytest.raises(SpecError, match="n_estimator") as info:
        load_spec(path)
    assert "training" in str(info.value)


def test_unknown_key_under_existing_section_is_named(tmp_path):
    path = write_spec(tmp_path, edited("  share_threshold: 0.3\n", "  share_threshold: 0.3\n  shares_treshold: 0.2\n"))
    with pytest.raises(SpecError, match="shares_treshold"):
        load_spec(path)


def test_known_nested_key_is_applied(tmp_path):
    bank = (SPECS / "bank.yaml").read_text()  # no `training:` section of its own
    spec = load_spec(write_spec(tmp_path, bank + "\ntraining:\n  n_estimators: 10\n"))
    assert spec.training.n_estimators == 10
    assert spec.training.learning_rate == 0.1  # the rest keep their defaults


def test_missing_target_is_named(tmp_path):
    path = write_spec(tmp_path, edited("target: is_canceled\n", ""))
    with pytest.raises(SpecError, match="'target'"):
        load_spec(path)


def test_missing_spec_file_is_reported(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_leakage_column_as_feature_is_refused(tmp_path):
    path = write_spec(
        tmp_path,
        edited(
            "  - total_of_special_requests\ninteger:", "  - total_of_special_requests\n  - booking_changes\ninteger:"
        ),
    )
    with pytest.raises(SpecError, match="booking_changes"):
        load_spec(path)


def test_target_as_feature_is_refused(tmp_path):
    path = write_spec(tmp_path, edited("  - company\n", "  - company\n  - is_canceled\n"))
    with pytest.raises(SpecError, match="is_canceled"):
        load_spec(path)


def test_integer_column_not_numeric_is_refused(tmp_path):
    path = write_spec(tmp_path, edited("integer:\n", "integer:\n  - hotel\n"))
    with pytest.raises(SpecError, match="hotel"):
        load_spec(path)


def test_check_columns_names_the_missing_column():
    spec = load_spec(SPECS / "hotel.yaml")
    present = [c for c in spec.required_columns + spec.leakage + (spec.target,) if c != "adr"]
    spec.check_columns(present + ["adr"])  # everything present: no error
    with pytest.raises(SpecError, match="adr"):
        spec.check_columns(present)


def test_check_columns_requires_leakage_and_target_columns_too():
    spec = load_spec(SPECS / "hotel.yaml")
    present = list(spec.required_columns + spec.leakage)
    with pytest.raises(SpecError, match="is_canceled"):
        spec.check_columns(present)


def test_gate_privacy_settings_load_and_an_unknown_secret_is_named(tmp_path):
    spec = load_spec(write_spec(tmp_path, HOTEL_TEXT + "\ngate:\n  max_inference_risk: 0.2\n  inference_secret: adr\n"))
    assert spec.gate.max_inference_risk == 0.2 and spec.gate.inference_secret == "adr"
    assert spec.gate.max_linkability_risk == 0.1  # the rest keep their defaults
    with pytest.raises(SpecError, match="inference_secret 'nope'"):
        load_spec(write_spec(tmp_path, HOTEL_TEXT + "\ngate:\n  inference_secret: nope\n"))


def test_synthesis_plan_settings_load_and_out_of_range_shares_are_named(tmp_path):
    spec = load_spec(
        write_spec(
            tmp_path, HOTEL_TEXT + "\nsynthesis:\n  max_rows: 5000\n  max_slice_share: 0.02\n  positive_share: 0.5\n"
        )
    )
    s = spec.synthesis
    assert (s.max_rows, s.max_slice_share, s.positive_share, s.synthetic_share) == (5000, 0.02, 0.5, 0.1)
    with pytest.raises(SpecError, match="synthesis.max_slice_share: Input should be less than or equal to 1"):
        load_spec(write_spec(tmp_path, HOTEL_TEXT + "\nsynthesis:\n  max_slice_share: 2\n"))
    with pytest.raises(SpecError, match="synthesis.max_rows: Input should be greater than or equal to 0"):
        load_spec(write_spec(tmp_path, HOTEL_TEXT + "\nsynthesis:\n  max_rows: -1\n"))


def test_strata_are_categorical_columns(tmp_path):
    assert load_spec(write_spec(tmp_path, HOTEL_TEXT)).synthesis.strata == (
        "market_segment",
    )  # a YAML list, kept as a tuple
    with pytest.raises(SpecError, match="strata must be a list of categorical columns"):
        load_spec(write_spec(tmp_path, edited("strata: [market_segment]", "strata: [adr]")))


def test_unknown_nested_key_names_the_file_the_block_and_the_allowed_keys(tmp_path):
    path = write_spec(tmp_path, HOTEL_TEXT + "\ntraining:\n  n_estimator: 10\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "training: unknown key(s) ['n_estimator']" in message
    assert "allowed: ['learning_rate', 'model', 'n_estimators', 'recipe_margin', 'recipes'," in message


def test_a_value_outside_a_closed_choice_names_the_key_and_the_allowed_values(tmp_path):
    path = write_spec(tmp_path, HOTEL_TEXT + "\nsynthesis:\n  generator: copulaa\n")
    with pytest.raises(SpecError, match="synthesis.generator: ") as info:
        load_spec(path)
    assert str(path) in str(info.value) and "'copulaa'" in str(info.value)
    assert all(f"'{g}'" in str(info.value) for g in GENERATORS)
    with pytest.raises(SpecError, match=r"blind_spots.metrics\[1\]: .*'false_alarm'"):
        load_spec(write_spec(tmp_path, HOTEL_TEXT + "\nblind_spots:\n  metrics: [error, misses]\n"))


def test_every_problem_is_reported_at_once_one_per_line(tmp_path):
    text = edited("label_delay: 1 ", "label_delay: 0 ") + "\ntraining:\n  model: xgboost\ncolour: blue\n"
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, text))
    assert str(info.value).splitlines() == [
        f"{tmp_path / 'spec.yaml'}: 3 problems:",
        "  label_delay: Input should be greater than or equal to 1, got 0",
        "  training.model: Input should be 'lightgbm' or 'mlp', got 'xgboost'",
        "  unknown key(s) ['colour']; allowed: " + str(sorted(set(DatasetSpec.model_fields) - {"spec_path"})),
    ]


def test_leakage_as_feature_names_the_file_and_the_column_across_keys(tmp_path):
    path = write_spec(tmp_path, edited("  - company\n", "  - company\n  - booking_changes\n"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value) == f"{path}: column(s) ['booking_changes'] are features but also target, leakage or PII"


def test_an_empty_section_takes_its_defaults(tmp_path):
    spec = load_spec(write_spec(tmp_path, edited("pii: []", "pii:") + "\ntraining:\n"))
    assert spec.pii == () and spec.training.n_estimators == 150


def test_a_spec_is_frozen_and_hashable_by_content():
    spec = load_spec(SPECS / "hotel.yaml")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.target = "adr"
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.synthesis.generator = "ctgan"
    again = load_spec(SPECS / "hotel.yaml")  # source.options holds a dict: hashed by content too
    assert spec == again and hash(spec) == hash(again) and len({spec, again, load_spec(SPECS / "bank.yaml")}) == 2


def test_replace_changes_a_copy_and_checks_it_again():
    spec = load_spec(SPECS / "hotel.yaml")
    mlp = replace(spec, training=replace(spec.training, model="mlp", n_estimators=10))
    assert (mlp.training.model, mlp.training.n_estimators, mlp.spec_path) == ("mlp", 10, spec.spec_path)
    assert spec.training.model == "lightgbm" and mlp != spec
    with pytest.raises(SpecError, match=r"hotel.yaml: column\(s\) \['adr'\] are features but also"):
        replace(spec, leakage=(*spec.leakage, "adr"))
    with pytest.raises(SpecError, match=r"unknown key\(s\) \['trainnig'\]; allowed: \['baselines', 'batch_period',"):
        replace(spec, trainnig=spec.training)
    with pytest.raises(SpecError, match="TrainingSettings: model: Input should be 'lightgbm' or 'mlp'"):
        replace(spec.training, model="xgboost")
