"""Label fidelity: does synthetic data keep P(label | value) of the real rows?

A generator that flips or flattens the label relationship of a category teaches the
model the wrong thing however good its marginals look, so the synthetic gate and the
fidelity benchmark both judge the largest gap.
"""

from __future__ import annotations

import pandas as pd

from factory.core.spec import DatasetSpec


def label_fidelity_gaps(real: pd.DataFrame, synthetic: pd.DataFrame, spec: DatasetSpec, min_rows: int = 100) -> dict:
    """|P(label | value) real - synthetic| for every categorical value with at least
    `min_rows` real rows that the synthetic rows also hold (score enough synthetic rows
    to keep sampling noise small). Returns {"max", "mean", "per_value": {"column=value": gap}}; max and mean are None
    when no value qualifies."""
    per_value: dict[str, float] = {}
    if real.empty or synthetic.empty:
        return {"max": None, "mean": None, "per_value": per_value}
    y_real, y_syn = real[spec.target].astype(float), synthetic[spec.target].astype(float)
    for col in spec.categorical:
        if col not in real.columns or col not in synthetic.columns:
            continue
        r = y_real.groupby(real[col].astype(str).where(real[col].notna(), "<NA>")).agg(["mean", "size"])
        s = y_syn.groupby(synthetic[col].astype(str).where(synthetic[col].notna(), "<NA>")).agg(["mean", "size"])
        both = r.join(s, lsuffix="_real", rsuffix="_syn", how="inner")
        both = both[both["size_real"] >= min_rows]
        for value, row in both.iterrows():
            per_value[f"{col}={value}"] = float(abs(row["mean_real"] - row["mean_syn"]))
    if not per_value:
        return {"max": None, "mean": None, "per_value": per_value}
    gaps = list(per_value.values())
    return {"max": max(gaps), "mean": sum(gaps) / len(gaps), "per_value": per_value}
