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
    y_syn = synthetic[spec.target].astype(float).to_numpy()
    text = lambda values: values.astype(str).where(values.notna(), "<NA>").to_numpy()  # noqa: E731
    out = []
    for col in spec.categorical:
        if col not in real.columns or col not in synthetic.columns:
            continue
        codes, values = pd.factorize(np.concatenate([text(real[col]), text(synthetic[col])]), sort=True)
        r, s, k = codes[: len(real)], codes[len(real) :], len(values)
        w_sum, wy, w2 = (np.bincount(r, weights=x, minlength=k) for x in (w, w * y_real, w * w))
        size_r, size_s = np.bincount(r, minlength=k), np.bincount(s, minlength=k)
        keep = (size_r >= min_rows) & (size_s >= max(min_synthetic, 1)) & (w_sum > 0)
        if not keep.any():
            continue
        p_syn = np.bincount(s, weights=y_syn, minlength=k)[keep] / size_s[keep]
        p_real, n_eff = wy[keep] / w_sum[keep], w_sum[keep] ** 2 / w2[keep]
        se = np.sqrt(p_real * (1 - p_real) / n_eff + p_syn * (1 - p_syn) / size_s[keep])
        gap = np.abs(p_real - p_syn)
        out.append(
            pd.DataFrame(
                {
                    "value": [f"{col}={v}" for v in values[keep]],
                    "p_real": p_real,
                    "n_real": n_eff,
                    "p_syn": p_syn,
                    "n_syn": size_s[keep],
                    "gap": gap,
                    "low": gap - 1.96 * se,
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
    return gap_summary(label_gap_table(real, synthetic, spec, min_rows, min_synthetic=min_rows, weights=weights))


def gap_summary(table: pd.DataFrame, min_synthetic: int = 0) -> dict:
    """{"max", "mean", "per_value"} of a label_gap_table over the values with at least
    `min_synthetic` synthetic rows (one table serves both the gaps and their bounds)."""
    table = table[table["n_syn"] >= min_synthetic]
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
