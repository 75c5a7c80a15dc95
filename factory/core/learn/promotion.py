"""The rules that decide: keep synthetic rows (the ablation), promote a challenger."""

from __future__ import annotations

from factory.core.base.spec import DatasetSpec
from factory.core.base.types import Comparison, ModelScores


def _value(x: float | None) -> float:
    return -1.0 if x is None else x


def prefer_synthetic(with_synthetic: ModelScores, real_only: ModelScores, spec: DatasetSpec) -> bool:
    """The ablation: keep the synthetic rows only when they raise blind-spot ROC AUC
    without costing more than the tolerance overall, on the same real holdout."""
    gains = _value(with_synthetic.bs_auc) > _value(real_only.bs_auc)
    keeps = _value(with_synthetic.auc) >= _value(real_only.auc) - spec.promotion.auc_tolerance
    return gains and keeps


def decide_promotion(comparison: Comparison, spec: DatasetSpec) -> tuple[bool, str]:
    """Promote only if the challenger holds overall ROC AUC within the tolerance AND its
    blind-spot ROC AUC gain is at least the margin with a paired 95% interval above
    zero (without blind-spot rows, the overall gain's interval must be above zero)."""
    c, tol, margin = comparison, spec.promotion.auc_tolerance, spec.promotion.blind_spot_margin
    if c.auc_diff is None:
        return False, "champion kept: the holdout has a single class, ROC AUC is undefined"
    overall_ok = c.auc_diff >= -tol
    text = f"overall AUC {c.auc_diff:+.4f} [{_fmt(c.auc_diff_low)}, {_fmt(c.auc_diff_high)}] (tolerance {tol})"
    if c.bs_auc_diff is None:
        gain_ok = c.auc_diff_low is not None and c.auc_diff_low > 0
        text += f"; no blind-spot rows with both classes ({c.bs_rows} rows): the overall gain must be significant"
    else:
        gain_ok = c.bs_auc_diff >= margin and c.bs_auc_diff_low is not None and c.bs_auc_diff_low > 0
        interval = f"[{_fmt(c.bs_auc_diff_low)}, {_fmt(c.bs_auc_diff_high)}]"
        text += f"; blind-spot AUC {c.bs_auc_diff:+.4f} {interval} on {c.bs_rows} rows (margin {margin})"
    if overall_ok and gain_ok:
        return True, "challenger wins: " + text
    return False, "champion kept: " + text


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"
