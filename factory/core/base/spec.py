"""DatasetSpec: every dataset-specific fact lives in a YAML file, none in code.

A new dataset is a new YAML file in `specs/`. The spec is a set of frozen pydantic
models that refuse unknown keys: loading names the file, the key path and the allowed
values of every mistake, so a typo never silently drops a rule.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from factory.core.base.errors import SpecError

Period = Literal["month"]  # batch_period
GeneratorName = Literal["gaussian_copula", "autoregressive", "ctgan", "tvae", "auto"]  # synthesis.generator
ModelName = Literal["lightgbm", "mlp"]  # training.model
ErrorMetric = Literal["error", "miss", "false_alarm"]  # blind_spots.metrics
SUPPORTED_PERIODS: tuple[str, ...] = get_args(Period)
GENERATORS: tuple[str, ...] = get_args(GeneratorName)
MODELS: tuple[str, ...] = get_args(ModelName)

Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Block = TypeVar("Block", bound=BaseModel)


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


class SourceSpec(_Frozen):
    """Where the raw dataset lives and how to read it."""

    path: str | None = None  # relative paths resolve against the spec file's folder
    url: str | None = None  # downloaded once into FACTORY_DATA_CACHE when path is absent
    format: str = "csv"
    options: dict[str, Any] = {}  # passed to pandas.read_csv


class TimeSpec(_Frozen):
    """How rows are ordered in time. Without a year column the year is rebuilt
    from row order: it starts at `start_year` and increments whenever the month drops."""

    month: str
    year: str | None = None
    day: str | None = None
    start_year: int | None = None

    @model_validator(mode="after")
    def _year_is_known(self) -> TimeSpec:
        if self.year is None and self.start_year is None:
            raise ValueError("give either 'year' (a column) or 'start_year' (rebuilt from row order)")
        return self


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
    # another recipe replaces the first only when its holdout ROC AUC is higher by more than this: on hotel,
    # taking the best of four windows each cycle lost 0.0006 ROC AUC on the next month to always using the first
    recipe_margin: float = Field(0.005, ge=0)
    synthetic_weight: float = 1.0
    n_estimators: int = 300
    learning_rate: float = 0.05

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
    agreement_floor: Share = 0.6  # the gate is trusted while its verdicts had the next batch's sign this often ...
    min_record: Count = 4  # ... over at least this many decisive cycles (fewer: too early to tell, it is trusted)
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


_EMPTY_IS_DEFAULT = ("numeric", "categorical", "ids", "leakage", "pii", "rules", "integer")
_EMPTY_IS_DEFAULT += ("drift", "blind_spots", "synthesis", "training", "judge", "baselines", "promotion", "gate")


class DatasetSpec(_Frozen):
    name: str = Field(min_length=1)
    source: SourceSpec
    target: str = Field(min_length=1)
    positive_label: Any
    time: TimeSpec
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    batch_period: Period = "month"
    reference_batches: int = Field(12, ge=2)
    label_delay: int = Field(1, ge=1)  # in batches
    ids: tuple[str, ...] = ()
    leakage: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # pandas expressions every synthetic row must satisfy
    integer: tuple[str, ...] = ()  # numeric columns whose values are whole numbers
    drift: DriftSettings = DriftSettings()
    blind_spots: BlindSpotSettings = BlindSpotSettings()
    synthesis: SynthesisSettings = SynthesisSettings()
    training: TrainingSettings = TrainingSettings()
    judge: JudgeSettings = JudgeSettings()
    baselines: BaselineSettings = BaselineSettings()
    promotion: PromotionSettings = PromotionSettings()
    gate: GateSettings = GateSettings()
    spec_path: str = ""  # set by load_spec, never written in the file

    @field_validator(*_EMPTY_IS_DEFAULT, mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads a key with nothing under it (`pii:`, `training:`) as None: it means the default."""
        return cls.model_fields[info.field_name].get_default() if value is None else value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        """Checks across keys, all reported at once, each naming its keys and columns."""
        features, problems = set(self.features), []
        if not features:
            problems.append("no feature columns: list them under 'numeric' and 'categorical'")
        if leaky := sorted(features & {*self.leakage, *self.pii, self.target}):
            problems.append(f"column(s) {leaky} are features but also target, leakage or PII")
        if both := sorted(set(self.numeric) & set(self.categorical)):
            problems.append(f"column(s) {both} are listed as both numeric and categorical")
        if not_numeric := sorted(set(self.integer) - set(self.numeric)):
            problems.append(f"'integer' column(s) {not_numeric} are not listed under 'numeric'")
        if not set(strata := self.synthesis.strata) <= set(self.categorical):
            problems.append(f"synthesis.strata must be a list of categorical columns, got {list(strata)}")
        if self.gate.inference_secret not in (None, self.target, *features):
            problems.append(f"gate.inference_secret '{self.gate.inference_secret}' is neither the target nor a feature")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @property
    def time_columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.time.year, self.time.month, self.time.day) if c)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a landed batch must carry (the label may arrive later)."""
        seen: dict[str, None] = {}
        for c in self.features + self.time_columns + self.ids:
            seen.setdefault(c, None)
        return tuple(seen)

    def check_columns(self, columns: list[str] | tuple[str, ...]) -> None:
        """Fail with the names of spec columns the data does not have."""
        present = set(columns)
        named = set(self.features + self.time_columns + self.ids + self.leakage + self.pii)
        named.add(self.target)
        missing = sorted(named - present)
        if missing:
            raise SpecError(
                f"{self.spec_path}: column(s) {missing} named in the spec do not exist in the data "
                f"(columns are: {sorted(present)})"
            )


def load_spec(path: str | os.PathLike) -> DatasetSpec:
    """Read and check a spec YAML. Errors name the file, the key path and what is allowed."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"spec file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: the spec must be a mapping of keys")
    if "spec_path" in raw:
        raise SpecError(f"{path}: unknown key(s) ['spec_path']; allowed: {_allowed(DatasetSpec)}")
    return _validate(DatasetSpec, {**raw, "spec_path": str(path)}, str(path))


def replace(model: Block, /, **changes: Any) -> Block:
    """A copy of a spec or of one of its settings blocks with some keys changed, checked
    again like a loaded spec: a replacement cannot produce an invalid spec."""
    where = getattr(model, "spec_path", "") or type(model).__name__
    return _validate(type(model), {**dict(model), **changes}, where)


def _validate(model: type[Block], data: dict[str, Any], where: str) -> Block:
    """Pydantic's ValidationError as one SpecError: the file, then one line per problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = _problems(exc, model)
    body = lines[0] if len(lines) == 1 else f"{len(lines)} problems:" + "".join(f"\n  {line}" for line in lines)
    raise SpecError(f"{where}: {body}")


def _problems(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """One line per problem, naming its key path; unknown keys grouped by block with the allowed keys."""
    lines, unknown = [], defaultdict(list)
    for error in exc.errors():
        loc, kind = error["loc"], error["type"]
        key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        if kind == "extra_forbidden":
            unknown[loc[:-1]].append(str(loc[-1]))
        elif kind == "missing":
            lines.append(f"missing required key '{key}'")
        elif kind == "value_error":  # our own checks: their messages name their keys
            lines += [f"{key}: {m}" if key else m for m in error["msg"].removeprefix("Value error, ").splitlines()]
        elif kind == "tuple_type":
            lines.append(f"{key}: must be a list (write '- {error['input']}' on its own line)")
        else:  # wrong type, out of range, not one of a closed set of values (the message lists them)
            lines.append(f"{key}: {error['msg']}, got {error['input']!r}")
    for loc, keys in unknown.items():
        block = model
        for part in loc:
            block = block.model_fields[part].annotation
        lines.append(f"{'.'.join(loc) + ': ' if loc else ''}unknown key(s) {sorted(keys)}; allowed: {_allowed(block)}")
    return lines


def _allowed(model: type[BaseModel]) -> list[str]:
    return sorted(set(model.model_fields) - {"spec_path"})
