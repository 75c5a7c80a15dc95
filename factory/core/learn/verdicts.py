"""The judge's record: every cycle's gate verdict beside what the next batch showed, and
the evidence for synthetic rows pooled over cycles.

An honest holdout on the newest labelled batch still need not predict the next batch:
where data drifts fast (a public half-hourly dataset: the time-ordered gate had the next
month's sign in 6 of 12 decisive cycles) the gate's verdicts are no better than a coin.
So the record is kept per dataset, and once enough decisive cycles say the gate does not
predict, a simple policy decides instead: serve the newest retrain, unless the same record
shows retraining losing. The record is causal: a cycle only reads verdicts whose next
batch was labelled before it.

The holdout's choice of training window is on record too (RecipeRecord), and must earn
its say: a window replaces the default recipe only once the holdout's preference between
them has had the next batch's sign often enough. On the full replays it had it in none of
2 decisive hotel cycles (a window chosen on the holdout lost 0.0061 on the next month) and
in 8 of 13 on bank.

A half-batch holdout cannot see an effect of +0.001 ROC AUC; synthetic rows earn their
place on the paired differences (with minus without them, same recipe, same holdout)
pooled over cycles, with a t interval that narrows as cycles accumulate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from factory.core.base.spec import JudgeSettings

POLICIES = ("gate", "always", "keep")  # trust the gate; always serve the newest retrain; keep the champion


@dataclass(frozen=True)
class Verdict:
    """One cycle: what the gate said, what was done, and (once labelled) what the next batch showed."""

    batch: str  # the cycle's batch t; the backtest is scored on it
    newest: str  # L, whose later part judged the gate
    recipe: str  # the challenger's recipe
    champion_version: str
    challenger_version: str
    gate_diff: float | None  # challenger minus champion, ROC AUC on the holdout
    gate_low: float | None
    gate_high: float | None
    gate_promote: bool  # the gate's own verdict
    promoted: bool  # what was done (the gate's verdict, or the fallback policy's)
    policy: str  # who decided: one of POLICIES
    reason: str
    synthetic_rows: int = 0  # accepted synthetic rows offered to the challenger's recipe
    synthetic_diff: float | None = None  # with minus without them: blind-spot ROC AUC on the holdout
    synthetic_auc_diff: float | None = None  # the same, overall
    synthetic_used: bool = False
    backtest_diff: float | None = None  # served challenger minus champion, ROC AUC on batch t
    holdout_rows: int = 0  # the rows that judged the gate ...
    copies_dropped: int = 0  # ... after dropping this many that copied a training row
    recipe_rival: str = ""  # the best recipe on the holdout other than the default ...
    recipe_gain: float | None = None  # ... its ROC AUC there minus the default's ...
    recipe_backtest_diff: float | None = None  # ... and on batch t (both as judged: fitted on the judge's rows)


@dataclass(frozen=True)
class GateRecord:
    """How the gate has done on the cycles whose next batch is labelled."""

    cycles: int  # verdicts with a backtest
    decisive: int  # of which the two models differed by more than judge.decisive_diff
    agreement: float | None  # share of decisive cycles where the gate's verdict had the backtest's sign
    gain_always: float  # summed backtest differences had every challenger been served (keeping the champion: 0)
    always_high: float | None  # the upper end of the 95% interval of the mean backtest difference


def sign_agreement(calls: list[tuple[bool, float]], settings: JudgeSettings) -> tuple[int, float | None]:
    """(decisive, agreement) of (said positive, next-batch difference) pairs: how many
    differences exceed judge.decisive_diff, and the share of those the call had the sign of."""
    decisive = [(said, diff) for said, diff in calls if abs(diff) > settings.decisive_diff]
    return len(decisive), float(np.mean([said == (diff > 0) for said, diff in decisive])) if decisive else None


def gate_record(verdicts: list[Verdict], settings: JudgeSettings) -> GateRecord:
    known = [v for v in verdicts if v.backtest_diff is not None]
    decisive, agreement = sign_agreement([(v.gate_promote, v.backtest_diff) for v in known], settings)
    return GateRecord(
        cycles=len(known),
        decisive=decisive,
        agreement=agreement,
        gain_always=float(sum(v.backtest_diff for v in known)),
        always_high=pooled([v.backtest_diff for v in known]).high,
    )


@dataclass(frozen=True)
class RecipeRecord:
    """How the holdout's preference between the default recipe and its best rival has done
    on the cycles whose next batch is labelled."""

    decisive: int  # cycles where the two differed by more than judge.decisive_diff on the next batch
    agreement: float | None  # share of them where the holdout's difference had the next batch's sign

    def trusted(self, settings: JudgeSettings) -> bool:
        return (
            self.decisive >= settings.min_record
            and self.agreement is not None
            and self.agreement >= settings.agreement_floor
        )

    def describe(self, settings: JudgeSettings) -> str:
        share = "" if self.agreement is None else f"{self.agreement:.0%} of "
        return (
            f"the holdout's window preference had the next batch's sign in {share}{self.decisive} decisive cycles "
            f"(a window needs {settings.agreement_floor:.0%} of at least {settings.min_record})"
        )


def recipe_record(verdicts: list[Verdict], settings: JudgeSettings) -> RecipeRecord:
    known = [v for v in verdicts if v.recipe_gain is not None and v.recipe_backtest_diff is not None]
    return RecipeRecord(*sign_agreement([(v.recipe_gain > 0, v.recipe_backtest_diff) for v in known], settings))


def choose_policy(record: GateRecord, settings: JudgeSettings) -> tuple[str, str]:
    """(policy, why). The gate decides until at least `min_record` decisive cycles show it
    agreeing with the next batch less often than `agreement_floor`; then the newest retrain
    is served, as the gate would serve it unless shown worse, and the champion is kept only
    once the record shows retraining losing: the 95% interval of the mean backtest
    difference below zero. On bank, keeping the champion whenever the summed record was
    negative kept it through four cycles in which the retrain gained 0.117 ROC AUC in all."""
    if record.decisive < settings.min_record or record.agreement is None:
        return (
            "gate",
            f"the gate decides ({record.decisive} decisive cycles on record, {settings.min_record} to judge it)",
        )
    if record.agreement >= settings.agreement_floor:
        return "gate", f"the gate decides (it had the next batch's sign in {record.agreement:.0%} of decisive cycles)"
    keep = record.always_high is not None and record.always_high < 0
    policy = "keep" if keep else "always"
    shown = "shows retraining losing" if keep else "does not show retraining losing"
    high = "" if record.always_high is None else f", the 95% interval of its mean up to {record.always_high:+.4f}"
    return policy, (
        f"the gate had the next batch's sign in only {record.agreement:.0%} of {record.decisive} decisive cycles "
        f"(floor {settings.agreement_floor:.0%}): falling back to '{policy}', as the record {shown} "
        f"(always serving the retrain: {record.gain_always:+.3f} ROC AUC summed over {record.cycles} cycles{high})"
    )


@dataclass(frozen=True)
class Pooled:
    """The running mean of per-cycle paired differences, with its 95% t interval."""

    cycles: int
    mean: float | None
    low: float | None
    high: float | None


def pooled(differences: list[float | None]) -> Pooled:
    values = np.array([d for d in differences if d is not None and np.isfinite(d)], dtype=float)
    if len(values) == 0:
        return Pooled(0, None, None, None)
    mean = float(values.mean())
    if len(values) < 2:
        return Pooled(1, mean, None, None)
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return Pooled(len(values), mean, mean - half, mean + half)
