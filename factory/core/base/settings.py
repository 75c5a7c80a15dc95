"""The spec's settings blocks (drift, blind_spots, synthesis, training, judge, baselines,
promotion, gate): every tuning knob with its default and why. base.spec holds the dataset's
own facts (source, time, columns) and reads these blocks by name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

GeneratorName = Literal["gaussian_copula", "autoregressive", "ctgan", "tvae", "auto"]  # synthesis.generator
ModelName = Literal["lightgbm", "mlp"]  # training.model
ErrorMetric = Literal["error", "miss", "false_alarm"]  # blind_spots.metrics
GENERATORS: tuple[str, ...] = get_args(GeneratorName)
MODELS: tuple[str, ...] = get_args(ModelName)

Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return frozenset((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


class _Frozen(BaseModel):
    """Closed (an unknown key is an error, never dropped) and frozen (a spec is passed
    around and cached, so nobody may change it underfoot)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __hash__(self) -> int:  # by content, dict-valued keys included (pydantic's own hash refuses dicts)
        return hash((type(self), *(_hashable(v) for v in self.__dict__.values())))


class DriftSettings(_Frozen):
    stattest_threshold: float = 0.1  # per-column drift score threshold (Evidently's default)
    share_threshold: float = 0.3  # drifted-column share that triggers regeneration
    report_sample_rows: int = 20000  # the Evidently HTML report runs on at most this many rows
    # per-column override of Evidently's default choice: {column: {test: ks|chisquare|z|
    # jensenshannon|wasserstein, threshold: float}} (either key may be left out)
    per_column: dict[str, dict[str, Any]] = {}
    performance_tolerance: float = 0.05  # estimated ROC AUC drop (vs reference) that triggers regeneration
    cooldown_hours: float = 24.0  # no drift-triggered regeneration within this long of the previous one
    max_regenerations: int = 3  # at most this many drift-triggered regenerations ...
    period_hours: float = 168.0  # ... per this many hours


class BlindSpotSettings(_Frozen):
    max_slices: int = 5  # per kind; error slices: per metric
    min_support: int = 30  # rows of the labelled batch inside a slice
    alpha: float = 0.05  # false-discovery rate (Benjamini-Hochberg)
    numeric_bins: int = 5  # quantile bins from the reference period
    # error slices are reported only while the expected share of them that would not replicate
    # on a fresh sample stays at most this (1.0: every significant slice, up to max_slices)
    max_false_share: float = 0.1
    # the error rates slices are tested on: over all rows, the positives (miss) and the negatives (false_alarm)
    metrics: tuple[ErrorMetric, ...] = Field(get_args(ErrorMetric), min_length=1)
    # small batches: while the newest labelled batch leaves blind-spot search fewer than pool_rows rows, it
    # also searches earlier labelled batches the champion was not trained on, newest first, up to pool_batches
    # batches in all (1: never pool)
    pool_batches: int = Field(3, ge=1)
    pool_rows: Count = 1000


class SynthesisSettings(_Frozen):
    generator: GeneratorName = "gaussian_copula"
    # the generation plan: a slice wants its deficit (coverage gap) or support x (lift - 1)
    # rows (error slice), then the caps below apply; see synthesis.plan_generation
    synthetic_share: Share = 0.1  # at most this many synthetic rows overall, as a share of the real training rows ...
    max_rows: Count | None = None  # ... and at most this many in total (None: no absolute budget)
    max_rows_per_slice: Count = 2000  # at most this many rows per slice ...
    max_slice_share: Share = 0.05  # ... and at most this share of the real training rows per slice
    positive_share: Share | None = None  # label mix inside every slice; None: each slice's own mix
    # gaussian_copula: one copula per class and value of these categorical columns (values with
    # fewer than 200 rows of a class pooled): interactions with them a single copula flattens
    strata: tuple[str, ...] = ()
    seed: int = 0
    epochs: int = 50  # autoregressive / ctgan / tvae: at most this many epochs ...
    max_fit_seconds: float = 600.0  # ... and about this long to fit both classes
    max_sample_seconds: float = 60.0  # ctgan / tvae only: rejection budget per slice and class
    # what lets the challenger use the accepted rows: the paired differences (with minus without them, on each
    # cycle's honest holdout) pooled over cycles with a 95% interval above zero, this cycle's holdout, or both
    use: Literal["pooled", "holdout", "both"] = "pooled"


class Recipe(_Frozen):
    """One way to train a challenger. The judge scores every recipe on its honest holdout
    each cycle and the best becomes the challenger: the best window moves from month to month."""

    name: str = Field(min_length=1)
    window: Annotated[int, Field(ge=1)] | None = None  # only the newest this many labelled batches; None: all
    recency_batches: Count = 0  # the newest this many batches weigh recency_weight, the rest 1
    recency_weight: float = Field(1.0, gt=0)
    class_weight: Literal["balanced", "none"] = "balanced"  # balanced: a 0.5 threshold is the prior-corrected one


RECENCY = Recipe(name="recency", recency_batches=3, recency_weight=3.0)  # FINDINGS.md's R: all history, newest x3
DEFAULT_RECIPES = (
    RECENCY,
    Recipe(name="last3", window=3),
    Recipe(name="last6", window=6),
    Recipe(name="last12", window=12),
)


class TrainingSettings(_Frozen):
    model: ModelName = "lightgbm"  # or "mlp": a torch MLP with categorical embeddings
    # the candidate recipes the judge chooses among; the first is the default (the first champion)
    recipes: tuple[Recipe, ...] = Field(DEFAULT_RECIPES, min_length=1)
    # another recipe replaces the first only when its holdout ROC AUC is higher by more than this (and the paired
    # 95% interval of the difference lies above zero, and the judge's record trusts its window preference:
    # judge.agreement_floor): on hotel, taking the best of four windows each cycle lost 0.0006 ROC AUC on the next
    # month to always using the first
    recipe_margin: float = Field(0.005, ge=0)
    synthetic_weight: float = 1.0
    # LightGBM's budget. 150 trees at 0.1 fit in half the time of 300 at 0.05 and serve as well: the recency
    # recipe's next-batch ROC AUC over the full replays was 0.9114 vs 0.9117 on hotel (14 cycles) and 0.6816 vs
    # 0.6810 on bank (14 cycles); 200 at 0.075 gave 0.9120 and 0.6794 (benchmarks/budget.py). 75 at 0.2 fit 1.77x
    # faster again and gave 0.9108 on hotel but 0.6696 on bank: specs/hotel.yaml takes it, for its cycle time
    n_estimators: int = 150
    learning_rate: float = 0.1

    @field_validator("recipes")
    @classmethod
    def _unique_names(cls, recipes: tuple[Recipe, ...]) -> tuple[Recipe, ...]:
        names = [r.name for r in recipes]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"recipe name(s) {dupes} are used twice")
        return recipes


class JudgeSettings(_Frozen):
    """The honest judge (learn.judge): the newest labelled batch's later part, in time
    order, judges candidates trained on everything before it; the winner is then refitted
    on everything to serve. The judge keeps its record against the next batch and, when
    the record says it does not predict, the best simple policy decides instead."""

    holdout_share: Share = 0.5  # the newest labelled batch's last share, in time order, judges
    gap_share: Share = 0.0  # the rows just before the holdout train nothing and judge nothing (neighbours repeat)
    # the gate is trusted while its verdicts had the next batch's sign this often ... (a window replaces the default
    # recipe only once the holdout's window preference has had it this often ...)
    agreement_floor: Share = 0.6
    # ... over at least this many decisive cycles (fewer: too early to tell; the gate is trusted, a window is not)
    min_record: Count = 4
    decisive_diff: float = Field(
        0.005, ge=0
    )  # a cycle is decisive when the two models differ by more on the next batch


class BaselineSettings(_Frozen):
    enabled: bool = False  # train and score the baselines every cycle (the benchmark turns them on; slow)


class PromotionSettings(_Frozen):
    """The challenger is newer: it is served unless the honest holdout shows it worse than
    the champion (learn.promotion says why, with the measurement)."""

    auc_tolerance: float = Field(0.005, ge=0)  # by more than this overall ROC AUC ...
    blind_spot_tolerance: float | None = None  # ... or by more than this inside the blind spots (None: reported only)


class GateSettings(_Frozen):
    """Thresholds of the ingest and synthetic gates (a failing gate names the metric,
    the slice, the value and the threshold)."""

    range_tolerance: float = 0.5  # ingest: values may pass the reference range by this x max(its span, |min|, |max|)
    range_mostly: float = 0.99  # ... for at least this share of rows (else the batch is poison)
    row_count_ratio: float = 10.0  # ingest: warn when rows differ from the mean reference batch by more than this
    null_tolerance: float = 0.2  # ingest: a column's null share above its reference share by this much poisons
    # ingest: what a batch whose values would poison training gets (non-finite values, values far out of range, a
    # null spike, a constant label, too few rows to judge, ...): "hold" keeps it out of training until an operator
    # accepts it (`factory accept`); "block" rejects it like a broken file (land a corrected revision)
    on_poison: Literal["hold", "block"] = "hold"
    min_rows: Count = 100  # ingest: a batch with fewer rows is too small to judge (poison)
    max_size_ratio: float = Field(20.0, gt=1)  # ingest: more rows than this x the largest reference batch: refused
    max_unseen_share: Share = 0.5  # ingest: more of a categorical column unseen than this: recoded (rejected)
    max_rule_share: Share = 0.01  # ingest: a business rule broken by more rows than this share poisons
    sample_rows: int = 2000  # fidelity and privacy run on at most this many rows per side (1000 per blind spot)
    min_slice_rows: int = 100  # real and synthetic rows a slice needs before its metrics are judged
    min_quality: float = 0.75  # SDMetrics quality score (column shapes and pair trends)
    max_discriminator_auc: float | None = None  # real-vs-synthetic ROC AUC (0.5 is ideal); None: reported only
    max_label_gap: float = 0.1  # largest |P(label | value) real - synthetic| (its lower 95% bound: noise does not fail)
    min_tstr_ratio: float = 0.8  # train-on-synthetic / train-on-real ROC AUC on the real holdout (overall only)
    max_dcr_share: float = 0.6  # share of synthetic rows closer to a training row than to a holdout row (0.5 is ideal)
    min_nndr_p5: float = 0.0  # 5th percentile of the nearest-neighbour distance ratio
    max_mia_auc: float = 0.6  # distance-based membership inference ROC AUC (0.5 is ideal)
    # privacy attacks (anonymeter's method): a risk fails when the lower end of its 95% interval exceeds the maximum
    privacy_attacks: int = 500  # targets per attack (training, control and baseline alike)
    max_singling_out_risk: float | None = 0.1
    max_linkability_risk: float | None = 0.1
    max_inference_risk: float | None = 0.1
    inference_secret: str | None = None  # the column the inference attack guesses; None: the label
    blocking: bool = True  # fidelity or privacy failures reject the synthetic batch; False: they only warn
    # per-blind-spot breaches (small, noisy samples; label mix drawn from recent rows) only warn
    slices_block: bool = False
