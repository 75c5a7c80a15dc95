"""DatasetSpec: every dataset-specific fact lives in a YAML file, none in code.

A new dataset is a new YAML file in `specs/`. The spec is a set of frozen pydantic
models that refuse unknown keys: loading names the file, the key path and the allowed
values of every mistake, so a typo never silently drops a rule.
"""

from __future__ import annotations

import os
import zoneinfo
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from factory.core.base.errors import SpecError
from factory.core.base.settings import (
    GENERATORS,
    RECENCY,
    BaselineSettings,
    BlindSpotSettings,
    DriftSettings,
    GateSettings,
    JudgeSettings,
    PromotionSettings,
    Recipe,
    SynthesisSettings,
    TrainingSettings,
    _Frozen,
)

__all__ = ["GENERATORS", "RECENCY", "BlindSpotSettings", "Recipe"]  # still importable from here, the settings' old home

Period = Literal["hour", "day", "week", "month", "quarter"]  # batch_period, finest first
PERIODS: tuple[str, ...] = get_args(Period)
Block = TypeVar("Block", bound=BaseModel)


class SourceSpec(_Frozen):
    """Where the raw dataset lives and how to read it."""

    path: str | None = None  # relative paths resolve against the spec file's folder
    url: str | None = None  # downloaded once into FACTORY_DATA_CACHE when path is absent
    format: str = "csv"
    options: dict[str, Any] = {}  # passed to pandas.read_csv


class TimeSpec(_Frozen):
    """Where rows sit in time, one of three ways (base.clock reads them):
    - `column`: one timestamp or date column; `format` a strftime format, or `unix` / `unix_ms`
      for epoch numbers (none: inferred); `timezone` names batches in that zone's local time
      (values with an offset are converted to it, values without one are read as its time);
    - calendar columns: `month` with `year`, or with `start_year` (the year is rebuilt from row
      order: it starts there and increments whenever the month drops), and optionally `day`;
    - `row_order: true`: no clock at all; batches are `batch_rows` rows each, in file order."""

    column: str | None = None
    format: str | None = None
    timezone: str | None = None
    month: str | None = None
    year: str | None = None
    day: str | None = None
    start_year: int | None = None
    row_order: bool = False
    batch_rows: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _one_clock(self) -> TimeSpec:
        calendar = bool(self.month or self.year or self.day or self.start_year is not None)
        ways = [
            w for w, given in (("column", self.column), ("calendar", calendar), ("row_order", self.row_order)) if given
        ]
        problems = []
        if len(ways) != 1:
            problems.append(
                "give exactly one of 'column' (a timestamp), calendar columns ('month' with 'year' or 'start_year') "
                f"or 'row_order: true' (no clock); got {ways or 'none'}"
            )
        if calendar and not self.month:
            problems.append("calendar columns need 'month' ('year', 'day' and 'start_year' go with it)")
        if self.month and self.year is None and self.start_year is None:
            problems.append("give either 'year' (a column) or 'start_year' (rebuilt from row order)")
        if (self.format or self.timezone) and not self.column:
            problems.append("'format' and 'timezone' describe a timestamp 'column'")
        if self.row_order != (self.batch_rows is not None):
            problems.append("'row_order: true' needs 'batch_rows' (rows per batch), and 'batch_rows' only goes with it")
        if self.timezone:
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                problems.append(f"unknown timezone {self.timezone!r} (an IANA name such as 'Europe/Lisbon' or 'UTC')")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def kind(self) -> Literal["column", "calendar", "rows"]:
        return "column" if self.column else "rows" if self.row_order else "calendar"

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the clock reads (a landed batch must carry them)."""
        return tuple(c for c in (self.column, self.year, self.month, self.day) if c)


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
    batch_period: Period | None = None  # None: month; left out with time.row_order (no clock to cut by)
    reference_batches: int = Field(12, ge=2)  # in batches of the spec's period, as is label_delay
    label_delay: int = Field(1, ge=1)
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
        problems += self._clock_problems()
        if self.gate.inference_secret not in (None, self.target, *features):
            problems.append(f"gate.inference_secret '{self.gate.inference_secret}' is neither the target nor a feature")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _clock_problems(self) -> list[str]:
        """A batch period the spec alone shows to be impossible (the data's own clock is checked
        when it is read: base.admit)."""
        time, period = self.time, self.batch_period
        if time.kind == "rows" and period:
            return [f"batch_period: {period} needs a clock; time.row_order batches are time.batch_rows rows each"]
        clock = "day" if time.day else "month"
        if time.kind == "calendar" and period and PERIODS.index(period) < PERIODS.index(clock):
            return [
                f"batch_period: {period} is finer than the data's clock: its calendar columns give {clock}s; "
                f"use {clock} or coarser, or a timestamp in time.column"
            ]
        return []

    @property
    def period(self) -> str:
        """The batch period in force: `rows` without a clock, else batch_period (month by default)."""
        return "rows" if self.time.kind == "rows" else self.batch_period or "month"

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @property
    def time_columns(self) -> tuple[str, ...]:
        return self.time.columns

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


def spec_from(data: dict[str, Any], where: str) -> DatasetSpec:
    """A spec from its keys (a draft, not a file), checked like a loaded one; `where` names it in errors."""
    return _validate(DatasetSpec, {**data, "spec_path": where}, where)


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
