"""Fidelity and privacy of a synthetic batch, overall and per blind spot, against the
real rows of the same slice; the verdicts the synthetic gate adds to its row checks.

Fidelity: SDMetrics quality (column shapes, column pair trends), a discriminator's
cross-validated ROC AUC (real vs synthetic; 0.5 is ideal), label fidelity (the largest
|P(label | value)| gap) and utility (train on synthetic, test on the real holdout, as a
ratio of train on real). Privacy: distance to closest record share against a real
holdout (0.5 is ideal), the 5th percentile of the nearest-neighbour distance ratio, a
distance-based membership inference ROC AUC (0.5 is ideal), singling-out, linkability
and inference attacks with intervals (factory.core.privacy), exact copies and real PII
values.

A targeted batch draws each blind spot's label mix from the plan, not from the slice's
history: label fidelity and utility compare with real rows weighted to the batch's
make-up (factory.core.fidelity.plan_weights), so the plan's mix is not a defect and a
flipped or flattened label relationship still is.

Everything runs on samples of at most `spec.gate.sample_rows` rows per side.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from factory.core.base.dataset import copy_keys, exact_copies, sample_rows
from factory.core.base.spec import DatasetSpec, replace
from factory.core.base.types import BlindSpot
from factory.core.gate.privacy import SETTING, AttackResult, coordinates, run_attacks
from factory.core.measure.labelgaps import gap_summary, label_gap_table, plan_weights
from factory.core.measure.twosample import discriminator_auc, discriminator_columns, sliced_two_sample_auc

NOT_DONE = (
    "quality and the discriminator compare with the slices' real rows as they are, not weighted to the batch's "
    "make-up (label mix and share of each blind spot): a targeted batch scores a little lower there by design",
    "per blind spot, only the checks that judge a slice of ~100 rows are run (label gaps, the discriminator, "
    "distances); SDMetrics quality, utility and the privacy attacks run on the whole batch (spec gate.slices_block "
    "runs every check per blind spot too: their breaches then reject the batch)",
)
SLICE_SAMPLE_ROWS = 1000  # a blind spot's checks run on at most this many rows a side
WEIGHT = "_plan_weight"  # real rows' weight column: the synthetic batch's make-up (plan_weights)


@dataclass(frozen=True)
class SliceMetrics:
    """One slice's fidelity and privacy; None where the slice is too small to judge."""

    slice: str  # "overall" or a blind spot id
    predicate: str
    real_rows: int
    synthetic_rows: int
    quality: float | None = None
    column_shapes: float | None = None
    pair_trends: float | None = None
    discriminator_auc: float | None = None
    label_gap_max: float | None = None
    label_gap_mean: float | None = None
    label_gap_low: float | None = None  # largest lower 95% bound of a gap: what the gate judges (noise-proof)
    # the value behind label_gap_low, P(label | value) real (at the batch's mix) vs synthetic
    label_gap_worst: str | None = None
    tstr_auc: float | None = None
    trtr_auc: float | None = None
    tstr_ratio: float | None = None
    dcr_share: float | None = None
    nndr_p5: float | None = None
    mia_auc: float | None = None
    attacks: tuple[AttackResult, ...] = ()  # singling out, linkability, inference (factory.core.privacy)
    exact_copies: int = 0
    pii_leaks: int = 0


@dataclass(frozen=True)
class FidelityReport:
    batch_id: str
    slices: tuple[SliceMetrics, ...]
    failures: tuple[str, ...]  # "metric on slice: value vs threshold": these reject the batch
    warnings: tuple[str, ...] = ()  # breaches that only warn (per blind spot unless spec gate.slices_block)
    not_done: tuple[str, ...] = NOT_DONE
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def headline(self) -> dict[str, float | int]:
        """The overall numbers as plain Python values (Dagster metadata, the benchmark)."""
        overall = self.slices[0]
        out = {k: v for k, v in asdict(overall).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for a in overall.attacks:
            out.update(
                {f"{a.attack}_risk": a.risk, f"{a.attack}_risk_low": a.risk_low, f"{a.attack}_risk_high": a.risk_high}
            )
        out["privacy_inconclusive"] = sum(a.verdict == "inconclusive" for a in overall.attacks)
        return out


# -- the metrics -------------------------------------------------------------------


def quality_scores(real: pd.DataFrame, synthetic: pd.DataFrame, spec: DatasetSpec) -> tuple[float, float, float]:
    """SDMetrics QualityReport: (overall, column shapes, column pair trends)."""
    with (
        warnings.catch_warnings()
    ):  # sdmetrics 0.32 marks the single-table report deprecated; its successor takes {table: df}
        warnings.simplefilter("ignore", FutureWarning)
        from sdmetrics.reports.single_table import QualityReport

    columns = list(spec.features) + [spec.target]
    metadata = {"columns": {c: {"sdtype": "numerical" if c in spec.numeric else "categorical"} for c in columns}}
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(
            real[columns].reset_index(drop=True), synthetic[columns].reset_index(drop=True), metadata, verbose=False
        )
    props = report.get_properties().set_index("Property")["Score"]
    return float(report.get_score()), float(props["Column Shapes"]), float(props["Column Pair Trends"])


def tstr(
    train_real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, spec: DatasetSpec, seed: int = 0
) -> tuple[float, float, float] | None:
    """Train on synthetic, test on the real holdout, against train on (as many) real
    rows, with the factory's model (fewer, larger boosting steps for speed):
    (tstr_auc, trtr_auc, ratio); None without both classes everywhere. Where the real
    frames carry plan weights, the real training rows are drawn and the holdout
    weighted by them: both models learn and are judged at the batch's make-up."""
    from sklearn.metrics import roc_auc_score

    from factory.core.learn.recipe import train_model

    spec = replace(spec, training=replace(spec.training, n_estimators=100, learning_rate=0.1))

    weights = train_real[WEIGHT] if WEIGHT in train_real.columns else None
    real = (  # as many real rows as there are synthetic ones, or as many as carry a weight
        train_real.sample(min(len(synthetic), int((weights > 0).sum())), weights=weights, random_state=seed)
        if weights is not None
        else sample_rows(train_real, len(synthetic), seed)
    )
    w_hold = holdout[WEIGHT].to_numpy() if WEIGHT in holdout.columns else np.ones(len(holdout))
    labels = [f[spec.target].dropna().astype(int) for f in (real, synthetic, holdout[w_hold > 0])]
    if any(lab.nunique() < 2 for lab in labels):
        return None
    y = holdout[spec.target].astype(int).to_numpy()
    trtr = roc_auc_score(
        y, train_model(real, spec, seed=seed, recency=False).predict_proba(holdout), sample_weight=w_hold
    )
    tstr_auc = roc_auc_score(
        y, train_model(synthetic, spec, seed=seed, recency=False).predict_proba(holdout), sample_weight=w_hold
    )
    return float(tstr_auc), float(trtr), float(tstr_auc / trtr) if trtr > 0 else 0.0


def privacy_distances(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, spec: DatasetSpec, seed: int = 0
) -> dict[str, float]:
    """DCR share (synthetic rows closer to a training row than to a holdout row, ties
    count half; train and holdout sampled to the same size), NNDR 5th percentile
    (nearest / second nearest training row), a membership inference ROC AUC (training
    rows vs holdout rows scored by their distance to the nearest synthetic row)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import NearestNeighbors

    n = min(len(train), len(holdout))
    tr, ho = sample_rows(train, n, seed), sample_rows(holdout, n, seed)
    t, h, s = coordinates([tr, ho, synthetic], spec.numeric, spec.categorical)
    d_train, _ = NearestNeighbors(n_neighbors=min(2, len(t)), metric="euclidean").fit(t).kneighbors(s)
    d_hold, _ = NearestNeighbors(n_neighbors=1, metric="euclidean").fit(h).kneighbors(s)
    tie = np.isclose(d_train[:, 0], d_hold[:, 0])
    closer = ((d_train[:, 0] < d_hold[:, 0]) & ~tie).mean() + 0.5 * tie.mean()
    nndr = np.divide(d_train[:, 0], d_train[:, -1], out=np.zeros(len(s)), where=d_train[:, -1] > 0)
    to_syn = NearestNeighbors(n_neighbors=1, metric="euclidean").fit(s)
    (member, _), (other, _) = to_syn.kneighbors(t), to_syn.kneighbors(h)
    mia = roc_auc_score(np.r_[np.ones(len(member)), np.zeros(len(other))], -np.r_[member[:, 0], other[:, 0]])
    return {"dcr_share": float(closer), "nndr_p5": float(np.percentile(nndr, 5)), "mia_auc": float(mia)}


def pii_leaks(synthetic: pd.DataFrame, real: pd.DataFrame, spec: DatasetSpec) -> int:
    """Synthetic values of the spec's PII columns that are real values."""
    return int(
        sum(
            synthetic[c].isin(set(real[c].dropna())).sum()
            for c in spec.pii
            if c in synthetic.columns and c in real.columns
        )
    )


# -- one slice, the whole batch, the verdicts ----------------------------------------


def slice_metrics(
    name: str,
    predicate: str,
    real: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    spec: DatasetSpec,
    seed: int = 0,
    full: bool = True,
    copies: int | None = None,
    discriminator: float | None = None,
) -> SliceMetrics:
    """Every metric a slice is big enough for (`spec.gate.min_slice_rows` real and
    synthetic rows; the holdout-based ones also need that many holdout rows). Without
    `full`, the slow ones (SDMetrics quality: ~250 column pairs a slice; utility; the
    attacks) are left out: on a hotel cycle with 12 blind spots they took 4/5 of the gate's
    time, for breaches that only warn. `copies`: the exact copies, and `discriminator` the
    real-vs-synthetic ROC AUC, when the caller measured them."""
    g = spec.gate
    base = dict(
        slice=name,
        predicate=predicate,
        real_rows=len(real),
        synthetic_rows=len(synthetic),
        exact_copies=int(exact_copies(synthetic, real, list(spec.features)).sum()) if copies is None else copies,
        pii_leaks=pii_leaks(synthetic, real, spec),
    )
    if min(len(real), len(synthetic)) < g.min_slice_rows:
        return SliceMetrics(**base)
    rows = g.sample_rows if name == "overall" else min(g.sample_rows, SLICE_SAMPLE_ROWS)
    r, s = sample_rows(real, rows, seed), sample_rows(synthetic, rows, seed)
    q, shapes, pairs = quality_scores(r, s, spec) if full else (None, None, None)
    w = r[WEIGHT].to_numpy() if WEIGHT in r.columns else None
    table = label_gap_table(r, s, spec, g.min_slice_rows, weights=w)
    gaps = gap_summary(table, min_synthetic=g.min_slice_rows)
    worst = table.loc[table["low"].idxmax()] if len(table) else None
    out = dict(
        base,
        quality=q,
        column_shapes=shapes,
        pair_trends=pairs,
        discriminator_auc=discriminator_auc(r, s, spec, seed) if discriminator is None else discriminator,
        label_gap_max=gaps["max"],
        label_gap_mean=gaps["mean"],
        label_gap_low=None if worst is None else float(worst["low"]),
        label_gap_worst=None
        if worst is None
        else f"{worst['value']}: {worst['p_real']:.2f} real vs {worst['p_syn']:.2f} synthetic",
    )
    if len(holdout) >= g.min_slice_rows:
        h = sample_rows(holdout, rows, seed)
        out.update(privacy_distances(r, h, s, spec, seed))
        out.update(attacks=run_attacks(r, h, s, spec, seed) if full else ())
        scores = tstr(r, s, h, spec, seed) if full else None
        if scores:
            out.update(tstr_auc=scores[0], trtr_auc=scores[1], tstr_ratio=scores[2])
    return SliceMetrics(**out)


# metric -> (gate setting, the failing side): "max" fails above the threshold, "min" below
THRESHOLDS = {
    "quality": ("min_quality", "min"),
    "discriminator_auc": ("max_discriminator_auc", "max"),
    "label_gap_low": ("max_label_gap", "max"),
    "tstr_ratio": ("min_tstr_ratio", "min"),
    "dcr_share": ("max_dcr_share", "max"),
    "nndr_p5": ("min_nndr_p5", "min"),
    "mia_auc": ("max_mia_auc", "max"),
}


def breached(metrics: SliceMetrics, metric: str, spec: DatasetSpec) -> bool:
    value = getattr(metrics, metric)
    if metric in ("exact_copies", "pii_leaks"):
        return bool(value)
    if metric not in THRESHOLDS or value is None:
        return False
    setting, side = THRESHOLDS[metric]
    threshold = getattr(spec.gate, setting)
    if threshold is None:  # reported, not judged
        return False
    return value > threshold if side == "max" else value < threshold


def _where(metrics: SliceMetrics) -> str:
    return "overall" if metrics.slice == "overall" else f"blind spot {metrics.slice} ({metrics.predicate})"


def verdicts(metrics: SliceMetrics, spec: DatasetSpec) -> list[str]:
    """One line per breached threshold: which metric, which slice, value, threshold."""
    where = _where(metrics)
    out = []
    for metric in [*THRESHOLDS, "exact_copies", "pii_leaks"]:
        if not breached(metrics, metric, spec):
            continue
        value = getattr(metrics, metric)
        if metric in THRESHOLDS:
            setting, side = THRESHOLDS[metric]
            word = "above the maximum" if side == "max" else "below the minimum"
            detail = f" ({metrics.label_gap_worst})" if metric == "label_gap_low" and metrics.label_gap_worst else ""
            out.append(
                f"{metric} on {where}: {value:.3f}{detail} is {word} {getattr(spec.gate, setting):g} (spec "
                f"gate.{setting})"
            )
        else:
            out.append(f"{metric} on {where}: {value} row(s), must be 0")
    for a in metrics.attacks:
        if a.verdict == "fail":
            setting = SETTING[a.attack]
            out.append(
                f"{a.attack}_risk on {where}: {a.risk:.3f} (95% CI {a.risk_low:.3f}-{a.risk_high:.3f}) has its lower "
                "bound above "
                f"the maximum {getattr(spec.gate, setting):g} (spec gate.{setting})"
            )
    return out


def inconclusive(metrics: SliceMetrics) -> list[str]:
    """Attacks that did no better than random guessing: they prove nothing, so they are
    reported as such, never counted as a pass."""
    return [
        f"{a.attack}_risk on {_where(metrics)}: inconclusive: the attack's success rate {a.attack_rate:.3f} is not "
        "above "
        f"the random baseline's {a.baseline_rate:.3f} (risk {a.risk:.3f}, 95% CI {a.risk_low:.3f}-{a.risk_high:.3f})"
        for a in metrics.attacks
        if a.verdict == "inconclusive"
    ]


def evaluate_synthetic(
    batch_id: str,
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    spec: DatasetSpec,
    blind_spots: list[BlindSpot] | tuple[BlindSpot, ...] = (),
    seed: int = 0,
) -> FidelityReport:
    """Fidelity and privacy of accepted synthetic rows: overall against the real rows of
    the union of their blind spots (all real rows when none is known), then per blind
    spot against the real rows of that slice, the real rows weighted to the batch's
    make-up per slice and class (label fidelity and utility use the weights). Quality,
    utility (TSTR) and the attacks are judged overall only, unless spec gate.slices_block.
    Overall breaches fail; per-blind-spot breaches warn
    unless spec gate.slices_block (a slice holds ~100 synthetic rows); inconclusive
    privacy attacks are warnings."""
    start = time.perf_counter()
    spots = [
        b for b in blind_spots if "_blind_spot_id" in synthetic.columns and (synthetic["_blind_spot_id"] == b.id).any()
    ]
    real_in = {b.id: b.mask(train).to_numpy() for b in spots}
    held_in = {b.id: b.mask(holdout).to_numpy() for b in spots}
    if spots:
        real_any, held_any = np.logical_or.reduce(list(real_in.values())), np.logical_or.reduce(list(held_in.values()))
        predicate = " OR ".join(f"({b.predicate})" for b in spots)
    else:
        real_any, held_any, predicate = np.ones(len(train), bool), np.ones(len(holdout), bool), "all rows"
    # copies of a slice's real rows, from one hash of each frame: a copy of a real row lies in its slices
    synthetic_keys, real_keys = copy_keys(synthetic, train, list(spec.features))
    copies = lambda rows, real: int(np.isin(synthetic_keys[rows], real_keys[real]).sum())  # noqa: E731
    weighted = lambda real, syn, sp: real.assign(**{WEIGHT: plan_weights(real, syn, spec, sp)})  # noqa: E731
    slices = []
    if len(synthetic):
        everything = np.ones(len(synthetic), bool)
        slices.append(
            slice_metrics(
                "overall",
                predicate,
                weighted(train[real_any], synthetic, spots),
                weighted(holdout[held_any], synthetic, spots),
                synthetic,
                spec,
                seed,
                copies=copies(everything, real_any),
            )
        )
    in_spot = {b.id: (synthetic["_blind_spot_id"] == b.id).to_numpy() for b in spots}
    # every blind spot's discriminator from one classifier: its slice of real rows against its synthetic rows
    pairs = {b.id: (train[real_in[b.id]], synthetic[in_spot[b.id]]) for b in spots}
    sample = min(spec.gate.sample_rows, SLICE_SAMPLE_ROWS)
    discriminators = sliced_two_sample_auc(pairs, *discriminator_columns(spec), rows=sample, seed=seed)
    for b in spots:
        rows = synthetic[in_spot[b.id]]
        slices.append(
            slice_metrics(
                b.id,
                b.predicate,
                weighted(train[real_in[b.id]], rows, [b]),
                weighted(holdout[held_in[b.id]], rows, [b]),
                rows,
                spec,
                seed,
                full=spec.gate.slices_block,
                copies=copies(in_spot[b.id], real_in[b.id]),
                discriminator=discriminators[b.id],
            )
        )
    blocking = [m for m in slices if m.slice == "overall" or spec.gate.slices_block]
    failures = tuple(line for m in blocking for line in verdicts(m, spec))
    warned = tuple(line for m in slices if m not in blocking for line in verdicts(m, spec))
    warned += tuple(line for m in slices for line in inconclusive(m))
    return FidelityReport(batch_id, tuple(slices), failures, warned, seconds=time.perf_counter() - start)
