"""Label fidelity: does synthetic data keep P(label | value) of the real rows?

A generator that flips or flattens the label relationship of a category teaches the
model the wrong thing however good its marginals look, so the synthetic gate and the
fidelity benchmark both judge the largest gap.

A targeted batch sets its label mix per blind spot on purpose (the generation plan),
so the real rows it is compared with may carry weights that give them the same mix
(`plan_weights`): P(label | value) is then compared at the plan's prior, and only a
change of the relationship itself, not of the mix, shows as a gap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.core.base.spec import DatasetSpec
from factory.core.base.types import BlindSpot


def plan_weights(
    real: pd.DataFrame, synthetic: pd.DataFrame, spec: DatasetSpec, spots: list[BlindSpot] | tuple[BlindSpot, ...] = ()
) -> np.ndarray:
    """Weights that give the real rows the synthetic batch's make-up: the real rows of
    blind spot b and class c share the synthetic rows of (b, c) (a row in several
    slices sums its shares); without blind spots, the classes alone (prior correction).
    A cell without synthetic rows weighs 0."""
    y_real = real[spec.target].astype(float).to_numpy()
    y_syn = synthetic[spec.target].astype(float).to_numpy()
    if spots:
        cells = [(b.mask(real).to_numpy(), (synthetic["_blind_spot_id"] == b.id).to_numpy()) for b in spots]
    else:
        cells = [(np.ones(len(real), dtype=bool), np.ones(len(synthetic), dtype=bool))]
    w = np.zeros(len(real))
    for in_real, in_syn in cells:
        for c in (0.0, 1.0):
            rows = in_real & (y_real == c)
            if rows.any():
                w[rows] += (in_syn & (y_syn == c)).sum() / rows.sum()
    return w


def label_gap_table(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    spec: DatasetSpec,
    min_rows: int = 100,
    min_synthetic: int = 0,
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per categorical value with `min_rows` real and `min_synthetic` synthetic
    rows: P(label | value) on each side (real rows weighted when `weights` is given),
    the real side's effective sample size (Kish), the gap and its lower 95% bound."""
    w = np.ones(len(real)) if weights is None else np.asarray(weights, dtype=float)
    y_real = real[spec.target].astype(float).to_numpy()
    out = []
    for col in spec.categorical:
        if col not in real.columns or col not in synthetic.columns:
            continue
        key_r = real[col].astype(str).where(real[col].notna(), "<NA>").to_numpy()
        r = (
            pd.DataFrame({"k": key_r, "w": w, "wy": w * y_real, "w2": w * w})
            .groupby("k")
            .agg(w=("w", "sum"), wy=("wy", "sum"), w2=("w2", "sum"), size_r=("w", "size"))
        )
        s = (
            synthetic[spec.target]
            .astype(float)
            .groupby(synthetic[col].astype(str).where(synthetic[col].notna(), "<NA>").to_numpy())
            .agg(["mean", "size"])
        )
        both = r.join(s.rename(columns={"mean": "p_syn", "size": "size_s"}), how="inner")
        both = both[(both["size_r"] >= min_rows) & (both["size_s"] >= max(min_synthetic, 1)) & (both["w"] > 0)]
        if both.empty:
            continue
        p_real, n_eff = both["wy"] / both["w"], both["w"] ** 2 / both["w2"]
        se = np.sqrt(p_real * (1 - p_real) / n_eff + both["p_syn"] * (1 - both["p_syn"]) / both["size_s"])
        gap = (p_real - both["p_syn"]).abs()
        out.append(
            pd.DataFrame(
                {
                    "value": [f"{col}={v}" for v in both.index],
                    "p_real": p_real.to_numpy(),
                    "n_real": n_eff.to_numpy(),
                    "p_syn": both["p_syn"].to_numpy(),
                    "n_syn": both["size_s"].to_numpy(),
                    "gap": gap.to_numpy(),
                    "low": (gap - 1.96 * se).to_numpy(),
                }
            )
        )
    columns = ["value", "p_real", "n_real", "p_syn", "n_syn", "gap", "low"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def label_fidelity_gaps(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    spec: DatasetSpec,
    min_rows: int = 100,
    weights: np.ndarray | None = None,
) -> dict:
    """|P(label | value) real - synthetic| for every categorical value with at least
    `min_rows` rows on both sides (a value seen a few times on one side measures noise,
    not fidelity). Returns {"max", "mean", "per_value": {"column=value": gap}}; max and
    mean are None when no value qualifies."""
    if real.empty or synthetic.empty:
        return {"max": None, "mean": None, "per_value": {}}
    table = label_gap_table(real, synthetic, spec, min_rows, min_synthetic=min_rows, weights=weights)
    per_value = dict(zip(table["value"], table["gap"].astype(float)))
    if not per_value:
        return {"max": None, "mean": None, "per_value": per_value}
    gaps = list(per_value.values())
    return {"max": max(gaps), "mean": sum(gaps) / len(gaps), "per_value": per_value}


def label_gap_low(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    spec: DatasetSpec,
    min_rows: int = 100,
    weights: np.ndarray | None = None,
) -> float | None:
    """The largest lower 95% confidence bound of |P(label | value) real - synthetic|
    over categorical values with `min_rows` real rows: a small synthetic slice's
    sampling noise does not fail the gate, a flipped or flattened relationship does."""
    table = label_gap_table(real, synthetic, spec, min_rows, weights=weights)
    return float(table["low"].max()) if len(table) else None
