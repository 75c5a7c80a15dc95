"""DatasetSpec: every dataset-specific fact lives in a YAML file, none in code.

A new dataset is a new YAML file in `specs/`. Loading refuses unknown keys and
columns that do not exist, naming them, so a typo never silently drops a rule.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from factory.core.base.errors import SpecError

SUPPORTED_PERIODS = ("month",)
GENERATORS = ("gaussian_copula", "autoregressive", "ctgan", "tvae", "auto")  # synthesis.generator
MODELS = ("lightgbm", "mlp")  # training.model


@dataclass(frozen=True)
class SourceSpec:
    """Where the raw dataset lives and how to read it."""

    path: str | None = None  # relative paths resolve against the spec file's folder
    url: str | None = None  # downloaded once into FACTORY_DATA_CACHE when path is absent
    format: str = "csv"
    options: dict[str, Any] = field(default_factory=dict)  # passed to pandas.read_csv


@dataclass(frozen=True)
class TimeSpec:
    """How rows are ordered in time. Without a year column the year is rebuilt
    from row order: it starts at `start_year` and increments whenever the month drops."""

    month: str
    year: str | None = None
    day: str | None = None
    start_year: int | None = None


@dataclass(frozen=True)
class DriftSettings:
    stattest_threshold: float = 0.1  # per-column drift score threshold (Evidently's default)
    share_threshold: float = 0.3  # drifted-column share that triggers regeneration
    report_sample_rows: int = 20000  # the Evidently HTML report runs on at most this many rows
    # per-column override of Evidently's default choice: {column: {test: ks|chisquare|z|
    # jensenshannon|wasserstein, threshold: float}} (either key may be left out)
    per_column: dict[str, dict[str, Any]] = field(default_factory=dict)
    performance_tolerance: float = 0.05  # estimated ROC AUC drop (vs reference) that triggers regeneration
    cooldown_hours: float = 24.0  # no drift-triggered regeneration within this long of the previous one
    max_regenerations: int = 3  # at most this many drift-triggered regenerations ...
    period_hours: float = 168.0  # ... per this many hours


@dataclass(frozen=True)
class BlindSpotSettings:
    max_slices: int = 5  # per kind; error slices: per metric
    min_support: int = 30  # rows of the labelled batch inside a slice
    alpha: float = 0.05  # false-discovery rate (Benjamini-Hochberg)
    numeric_bins: int = 5  # quantile bins from the reference period
    # error slices are reported only while the expected share of them that would not replicate
    # on a fresh sample stays at most this (1.0: every significant slice, up to max_slices)
    max_false_share: float = 0.1
    # the error rates slices are tested on: over all rows, the positives (miss) and the negatives (false_alarm)
    metrics: tuple[str, ...] = ("error", "miss", "false_alarm")


@dataclass(frozen=True)
class SynthesisSettings:
    generator: str = "gaussian_copula"
    # the generation plan: a slice wants its deficit (coverage gap) or support x (lift - 1)
    # rows (error slice), then the caps below apply; see synthesis.plan_generation
    synthetic_share: float = 0.1  # at most this many synthetic rows overall, as a share of the real training rows ...
    max_rows: int | None = None  # ... and at most this many in total (None: no absolute budget)
    max_rows_per_slice: int = 2000  # at most this many rows per slice ...
    max_slice_share: float = 0.05  # ... and at most this share of the real training rows per slice
    positive_share: float | None = None  # label mix inside every slice; None: each slice's own mix
    # gaussian_copula: one copula per class and value of these categorical columns (values with
    # fewer than 200 rows of a class pooled): interactions with them a single copula flattens
    strata: tuple[str, ...] = ()
    seed: int = 0
    epochs: int = 50  # autoregressive / ctgan / tvae: at most this many epochs ...
    max_fit_seconds: float = 600.0  # ... and about this long to fit both classes
    max_sample_seconds: float = 60.0  # ctgan / tvae only: rejection budget per slice and class


@dataclass(frozen=True)
class TrainingSettings:
    model: str = "lightgbm"  # or "mlp": a torch MLP with categorical embeddings
    recency_batches: int = 3  # the newest labelled batches get recency_weight
    recency_weight: float = 3.0
    holdout_share: float = 0.5  # share of the newest labelled batch kept for the gate only
    synthetic_weight: float = 1.0
    n_estimators: int = 300
    learning_rate: float = 0.05


@dataclass(frozen=True)
class PromotionSettings:
    auc_tolerance: float = 0.005  # challenger may lose at most this much overall ROC AUC
    blind_spot_margin: float = 0.0  # and must gain at least this on blind-spot ROC AUC


@dataclass(frozen=True)
class GateSettings:
    """Thresholds of the ingest and synthetic gates (a failing gate names the metric,
    the slice, the value and the threshold)."""

    range_tolerance: float = 0.5  # ingest: numeric values may exceed the reference range by this share of its span
    range_mostly: float = 0.99  # ... for at least this share of rows (else a warning)
    row_count_ratio: float = (
        10.0  # ingest: warn when rows differ from the mean reference batch by more than this factor
    )
    null_tolerance: float = 0.2  # ingest: warn when a column's null share exceeds its reference share by this much
    sample_rows: int = 2000  # fidelity and privacy run on at most this many rows per side (1000 per blind spot)
    min_slice_rows: int = 100  # real and synthetic rows a slice needs before its metrics are judged
    min_quality: float = 0.75  # SDMetrics quality score (column shapes and pair trends)
    max_discriminator_auc: float | None = (
        None  # real-vs-synthetic classifier ROC AUC (0.5 is ideal); None: reported only
    )
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
    slices_block: bool = (
        False  # per-blind-spot breaches (small, noisy samples; label mix drawn from recent rows) only warn
    )


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    source: SourceSpec
    target: str
    positive_label: Any
    time: TimeSpec
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    batch_period: str = "month"
    reference_batches: int = 12
    label_delay: int = 1
    ids: tuple[str, ...] = ()
    leakage: tuple[str, ...] = ()
    pii: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # pandas expressions every synthetic row must satisfy
    integer: tuple[str, ...] = ()  # numeric columns whose values are whole numbers
    drift: DriftSettings = DriftSettings()
    blind_spots: BlindSpotSettings = BlindSpotSettings()
    synthesis: SynthesisSettings = SynthesisSettings()
    training: TrainingSettings = TrainingSettings()
    promotion: PromotionSettings = PromotionSettings()
    gate: GateSettings = GateSettings()
    spec_path: str = ""

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


def _build(cls: type, data: Any, where: str) -> Any:
    """Build a frozen dataclass from a mapping, refusing unknown keys by name."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    tuples = {f.name for f in fields(cls) if isinstance(f.default, tuple)}
    data = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items()}  # YAML lists
    try:
        return cls(**data)
    except TypeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def load_spec(path: str | os.PathLike) -> DatasetSpec:
    """Read and check a spec YAML. Errors name the file and the offending key."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"spec file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: the spec must be a mapping of keys")
    where = str(path)
    top = {f.name for f in fields(DatasetSpec)} - {"spec_path"}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(top)}")
    for key in ("name", "target", "time", "source"):
        if raw.get(key) in (None, ""):
            raise SpecError(f"{where}: missing required key '{key}'")
    if "positive_label" not in raw:
        raise SpecError(f"{where}: missing required key 'positive_label'")

    nested = {
        "source": SourceSpec,
        "time": TimeSpec,
        "drift": DriftSettings,
        "blind_spots": BlindSpotSettings,
        "synthesis": SynthesisSettings,
        "training": TrainingSettings,
        "promotion": PromotionSettings,
        "gate": GateSettings,
    }
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in nested:
            values[key] = _build(nested[key], value, f"{where}: {key}")
        elif key in ("numeric", "categorical", "ids", "leakage", "pii", "rules", "integer"):
            if value is not None and not isinstance(value, list):
                raise SpecError(f"{where}: '{key}' must be a list (write '- {value}' on its own line)")
            values[key] = tuple(value or ())
        else:
            values[key] = value
    values.setdefault("numeric", ())
    values.setdefault("categorical", ())
    spec = DatasetSpec(spec_path=str(path), **values)
    _check_consistency(spec)
    return spec


def _check_consistency(spec: DatasetSpec) -> None:
    where = spec.spec_path
    if spec.batch_period not in SUPPORTED_PERIODS:
        raise SpecError(f"{where}: batch_period '{spec.batch_period}' is not one of {SUPPORTED_PERIODS}")
    if not spec.features:
        raise SpecError(f"{where}: no feature columns: list them under 'numeric' and 'categorical'")
    leaky = sorted(set(spec.features) & set(spec.leakage + spec.pii + (spec.target,)))
    if leaky:
        raise SpecError(f"{where}: column(s) {leaky} are features but also target, leakage or PII")
    both = sorted(set(spec.numeric) & set(spec.categorical))
    if both:
        raise SpecError(f"{where}: column(s) {both} are listed as both numeric and categorical")
    not_numeric = sorted(set(spec.integer) - set(spec.numeric))
    if not_numeric:
        raise SpecError(f"{where}: 'integer' column(s) {not_numeric} are not listed under 'numeric'")
    if spec.time.year is None and spec.time.start_year is None:
        raise SpecError(f"{where}: time: give either 'year' (a column) or 'start_year' (rebuilt from row order)")
    if spec.training.model not in MODELS:
        raise SpecError(f"{where}: training: model '{spec.training.model}' is not one of {list(MODELS)}")
    if spec.synthesis.generator not in GENERATORS:
        raise SpecError(f"{where}: synthesis: generator '{spec.synthesis.generator}' is not one of {list(GENERATORS)}")
    s = spec.synthesis
    for key in ("synthetic_share", "max_slice_share", "positive_share"):
        value = getattr(s, key)
        if value is not None and not 0 <= value <= 1:
            raise SpecError(f"{where}: synthesis: {key} must be between 0 and 1, got {value}")
    for key in ("max_rows", "max_rows_per_slice"):
        value = getattr(s, key)
        if value is not None and value < 0:
            raise SpecError(f"{where}: synthesis: {key} must not be negative, got {value}")
    if isinstance(s.strata, str) or any(c not in spec.categorical for c in s.strata):
        raise SpecError(f"{where}: synthesis: strata must be a list of categorical columns, got {s.strata}")
    metrics = ["error", "miss", "false_alarm"]
    if (
        isinstance(spec.blind_spots.metrics, str)
        or not spec.blind_spots.metrics
        or set(spec.blind_spots.metrics) - set(metrics)
    ):
        raise SpecError(
            f"{where}: blind_spots: metrics must be a non-empty list of {metrics}, got {spec.blind_spots.metrics}"
        )
    if spec.gate.inference_secret not in (None, spec.target, *spec.features):
        raise SpecError(
            f"{where}: gate: inference_secret '{spec.gate.inference_secret}' is neither the target nor a feature"
        )
    if spec.reference_batches < 2:
        raise SpecError(f"{where}: reference_batches must be at least 2")
    if spec.label_delay < 1:
        raise SpecError(f"{where}: label_delay must be at least 1 batch")


def replace(spec: DatasetSpec, **changes: Any) -> DatasetSpec:
    """A copy of the spec with some fields changed (tests and benchmarks)."""
    return dataclasses.replace(spec, **changes)
