"""`factory spec init` on both shipped datasets: the draft loads as written, and differs from
the hand-written spec only where the README ("Bring your own data") says why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from factory.core.base.spec import load_spec
from factory.core.draft.spec_init import draft_spec
from factory_tests.hotel_ways import hotel_sample

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
SHIPPED = {
    "hotel": (
        DATA / "hotel_bookings.csv.gz",
        dict(target="is_canceled", time=("arrival_date_year", "arrival_date_month", "arrival_date_day_of_month")),
    ),
    "bank": (DATA / "bank-additional-full.csv.gz", dict(target="y", time=("month",), start_year=2008)),
}
# (key, only in the draft, only in the hand-written spec): the README's table, row by row
DIFFERENCES = {
    "hotel": {
        ("numeric", ("arrival_date_week_number", "booking_changes"), ()),
        ("integer", ("arrival_date_week_number", "booking_changes"), ()),
        ("categorical", ("assigned_room_type",), ()),
        ("leakage", (), ("assigned_room_type", "booking_changes")),
        (
            "rules",
            tuple(
                f"{c} >= 0"
                for c in (
                    "adults",
                    "babies",
                    "booking_changes",
                    "days_in_waiting_list",
                    "is_repeated_guest",
                    "previous_bookings_not_canceled",
                    "previous_cancellations",
                    "required_car_parking_spaces",
                    "stays_in_week_nights",
                    "stays_in_weekend_nights",
                    "total_of_special_requests",
                )
            )
            + ("arrival_date_week_number >= 1",),
            (
                "adr >= 0",
                "adults + children + babies >= 1",
                "stays_in_weekend_nights >= 0 and stays_in_week_nights >= 0",
            ),
        ),
    },
    "bank": {
        ("numeric", ("duration",), ()),
        ("integer", ("duration",), ()),
        ("leakage", (), ("duration",)),
        ("rules", ("age >= 1", "duration >= 0", "euribor3m >= 0", "pdays >= 0", "previous >= 0"), ("age >= 17",)),
    },
}
SAME = ("target", "positive_label", "time", "batch_period", "reference_batches", "label_delay", "pii", "ids")


@pytest.mark.parametrize("name", list(SHIPPED))
def test_the_draft_of_a_shipped_dataset_loads_and_differs_only_where_the_readme_says(name, tmp_path):
    data, how = SHIPPED[name]
    out = tmp_path / f"{name}.yaml"
    draft = draft_spec(data, out=out, **how)
    out.write_text(draft.text)
    spec, hand = load_spec(out), load_spec(REPO / "specs" / f"{name}.yaml")
    assert spec == draft.spec  # the text says what was checked
    for key in SAME:
        assert getattr(spec, key) == getattr(hand, key), key
    keys = ("numeric", "integer", "categorical", "leakage", "rules")
    differences = {
        (
            k,
            tuple(sorted(set(getattr(spec, k)) - set(getattr(hand, k)))),
            tuple(sorted(set(getattr(hand, k)) - set(getattr(spec, k)))),
        )
        for k in keys
    }
    assert {d for d in differences if d[1] or d[2]} == {
        (k, tuple(sorted(a)), tuple(sorted(b))) for k, a, b in DIFFERENCES[name]
    }
    assert "# " in draft.text.split("numeric:")[1].splitlines()[1]  # every suggestion says why


def test_a_strong_column_keeps_its_place_with_a_warning(tmp_path):
    """bank's call `duration` predicts the outcome (ROC AUC 0.87) but below the leakage bar:
    only the data's owner knows it is written after the call, so the draft says so."""
    draft = draft_spec(*SHIPPED["bank"][:1], **SHIPPED["bank"][1])
    line = next(line for line in draft.text.splitlines() if line.startswith('  - "duration"'))
    assert "alone ROC AUC 0.87: if it is written after the outcome, move it to leakage" in line


def test_ids_and_personal_data_are_found_by_values_and_names(tmp_path):
    frame = hotel_sample().reset_index(drop=True)
    frame["booking_ref"] = frame.index * 7 + 100_000  # unique per row
    frame["contact"] = [f"guest{i}@example.org" for i in frame.index]  # e-mail addresses under a neutral name
    frame["phone_number"] = "+351 21 000 0000"
    frame["guest_name"] = "Ana"
    data = tmp_path / "hotel-with-guests.csv"
    frame.to_csv(data, index=False)
    spec = draft_spec(data, **SHIPPED["hotel"][1]).spec
    assert spec.ids == ("booking_ref",)
    assert set(spec.pii) == {"contact", "phone_number", "guest_name"}
    assert not set(spec.features) & {"booking_ref", "contact", "phone_number", "guest_name"}


def test_the_command_writes_a_draft_that_loads(tmp_path, capsys):
    from factory.cli import main

    data, _ = SHIPPED["bank"]
    out = subprocess.run(
        [str(Path(sys.executable).parent / "factory"), "spec", "init", str(data), "--target", "y", "--time", "month"]
        + ["--start-year", "2008"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["positive_label"] == "yes"  # quoted: YAML would read a bare yes as true
    assert main(["spec", "init", str(data), "--target", "y", "--time", "month"]) == 2
    assert "give --start-year" in capsys.readouterr().err
    written = tmp_path / "bank.yaml"
    assert (
        main(
            ["spec", "init", str(data), "--target", "y", "--time", "month", "--start-year", "2008"]
            + ["--out", str(written)]
        )
        == 0
    )
    assert load_spec(written).source.options == {"sep": ";"}
