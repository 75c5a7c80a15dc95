"""The real hotel data re-expressed the ways other teams' data arrives, written to a temporary
folder (never to the repository): its calendar columns as one `Date` column, or no clock at
all (rows in time order, batches of rows). The same 12% sample as defs/conftest.py's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from factory.core.base.clock import month_number

REPO = Path(__file__).resolve().parents[1]
SHARE = 0.12
CALENDAR = ["arrival_date_year", "arrival_date_month", "arrival_date_day_of_month"]
# what keeps one cycle short: one recipe, few trees, no baselines, small privacy and drift samples
LIGHT = dict(
    training={"n_estimators": 40, "recipes": [{"name": "recency", "recency_batches": 3, "recency_weight": 3.0}]},
    baselines={"enabled": False},
    gate={"privacy_attacks": 100, "sample_rows": 500},
    drift={"report_sample_rows": 2000},
)


def hotel_sample() -> pd.DataFrame:
    """12% of the hotel rows, in the file's column order (rows shuffled, as sampled)."""
    spec = yaml.safe_load((REPO / "specs" / "hotel.yaml").read_text())
    raw = pd.read_csv(REPO / "specs" / spec["source"]["path"], **spec["source"]["options"])
    return raw.sample(frac=SHARE, random_state=0)


def arrival_dates(frame: pd.DataFrame) -> pd.Series:
    parts = {"year": frame[CALENDAR[0]], "month": month_number(frame[CALENDAR[1]]), "day": frame[CALENDAR[2]]}
    return pd.to_datetime(pd.DataFrame(parts, index=frame.index))


def write_way(folder: Path, way: str, **keys) -> Path:
    """specs/hotel.yaml over the sample expressed one `way`: "calendar" (as shipped), "date"
    (one Date column), or "rows" (no clock: 1000-row batches in time order). `keys` replace
    top-level spec keys (batch_period, settings blocks, ...)."""
    frame, spec = hotel_sample(), yaml.safe_load((REPO / "specs" / "hotel.yaml").read_text())
    if way == "date":
        frame.insert(0, "Date", arrival_dates(frame).dt.strftime("%Y-%m-%d"))
        frame, spec["time"] = frame.drop(columns=CALENDAR), {"column": "Date"}
    elif way == "rows":
        frame = frame.iloc[arrival_dates(frame).argsort(kind="stable")].drop(columns=CALENDAR)
        spec["time"], spec["reference_batches"] = {"row_order": True, "batch_rows": 1000}, 8
        del spec["batch_period"]
    path = folder / f"hotel-{way}.csv"
    frame.to_csv(path, index=False)
    spec["source"] = {**spec["source"], "path": str(path), "url": None}
    spec.update(keys)
    out = folder / f"hotel-{way}.yaml"
    out.write_text(yaml.safe_dump(spec))
    return out
