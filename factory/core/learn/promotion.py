"""The rules that decide: does the challenger use the accepted synthetic rows (the
ablation, on pooled evidence), and is it served (the gate)?

The challenger is the newer model: on hotel, serving the newest retrain beat the frozen
first model by +0.03 ROC AUC on the next month. Requiring it to win significantly on a
half-batch holdout kept good models out (the time-ordered judge, 8 hotel cycles: a 95%
interval above zero promoted 6 of 8 and lost 0.0001-0.0003 ROC AUC on the next month to
serving every retrain). So it is served unless the honest holdout shows it worse than
the champion by more than the tolerance; the judge's record (learn.verdicts) decides
whether this verdict is trusted at all.
"""

from __future__ import annotations

from factory.core.base.spec import DatasetSpec
from factory.core.base.types import Comparison, ModelScores
from factory.core.learn.verdicts import Pooled


def _value(x: float | None) -> float:
    return -1.0 if x is None else x


def holdout_prefers_synthetic(with_synthetic: ModelScores, real_only: ModelScores, spec: DatasetSpec) -> bool:
    """This cycle's holdout alone: the synthetic rows raise blind-spot ROC AUC without
    costing more than the tolerance overall."""
    gains = _value(with_synthetic.bs_auc) > _value(real_only.bs_auc)
    keeps = _value(with_synthetic.auc) >= _value(real_only.auc) - spec.promotion.auc_tolerance
    return gains and keeps


def use_synthetic(holdout_says: bool, evidence: Pooled, spec: DatasetSpec) -> tuple[bool, str]:
    """Whether the challenger trains with the accepted synthetic rows, and why, as the
    spec's `synthesis.use` says: the pooled paired differences of every cycle so far
    (their 95% interval above zero), this cycle's holdout, or both."""
    mode = spec.synthesis.use
    if evidence.low is None:
        pooled_says, pooled_text = False, f"pooled evidence: {evidence.cycles} cycle(s), no interval yet"
    else:
        pooled_says = evidence.low > 0
        pooled_text = (
            f"pooled over {evidence.cycles} cycles: {evidence.mean:+.4f} blind-spot ROC AUC "
            f"[{evidence.low:+.4f}, {evidence.high:+.4f}]"
        )
    holdout_text = f"this cycle's holdout {'gains' if holdout_says else 'does not gain'}"
    use = {"pooled": pooled_says, "holdout": holdout_says, "both": pooled_says and holdout_says}[mode]
    return use, f"synthetic rows {'used' if use else 'not used'} ({mode}): {pooled_text}; {holdout_text}"


def gate_verdict(comparison: Comparison, spec: DatasetSpec) -> tuple[bool, str]:
    """Serve the challenger unless its overall ROC AUC on the holdout is below the
    champion's by more than `promotion.auc_tolerance` (and, when set, its blind-spot ROC
    AUC by more than `promotion.blind_spot_tolerance`)."""
    c, tol, spot_tol = comparison, spec.promotion.auc_tolerance, spec.promotion.blind_spot_tolerance
    if c.auc_diff is None:
        return False, "champion kept: the holdout has a single class, ROC AUC is undefined"
    ok = c.auc_diff >= -tol
    text = f"overall ROC AUC {c.auc_diff:+.4f} [{_fmt(c.auc_diff_low)}, {_fmt(c.auc_diff_high)}] (tolerance {tol:g})"
    if c.bs_auc_diff is not None:
        interval = f"[{_fmt(c.bs_auc_diff_low)}, {_fmt(c.bs_auc_diff_high)}]"
        text += f"; blind spots {c.bs_auc_diff:+.4f} {interval} on {c.bs_rows} rows"
        if spot_tol is not None:
            ok = ok and c.bs_auc_diff >= -spot_tol
            text += f" (tolerance {spot_tol:g})"
    return ok, ("challenger served: " if ok else "champion kept: ") + text


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"
