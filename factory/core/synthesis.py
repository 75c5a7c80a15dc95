"""Targeted synthesis: rows for exactly the blind spots, each carrying its lineage.

Design (from FINDINGS.md): one joint copula flattens P(label | x), so we fit one SDV
GaussianCopula per class and draw each slice's label mix from recent real rows: label
fidelity by construction. Integer columns with few values are modelled as categories,
so heavy modes (e.g. 63% zeros) keep their mass. Numeric range conditions are met
exactly: the copula is conditioned on the range's reference bin (a conditioning column
added at fit time), then the column's value is drawn from the real values of that
class inside the range, so every row satisfies its predicate by construction.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory.core.dataset import BATCH, content_hash
from factory.core.errors import SynthesisError
from factory.core.profile import bin_index
from factory.core.spec import DatasetSpec
from factory.core.types import BlindSpot, ReferenceProfile

TABLE = "t"
FEW_VALUES = 25  # integer columns with at most this many values are modelled as categories


@dataclass(frozen=True)
class SliceRequest:
    blind_spot: BlindSpot
    rows: int
    positives: int


def plan_generation(blind_spots: list[BlindSpot] | tuple[BlindSpot, ...], real_rows: int, spec: DatasetSpec) -> list[SliceRequest]:
    """Share the budget (synthetic_share x real rows) among the slices in proportion to
    their excess errors (support x (lift - 1)), capped per slice; label mix from the slice."""
    usable = [b for b in blind_spots if all(c.op != "is_null" for c in b.conditions)]
    budget = int(spec.synthesis.synthetic_share * real_rows)
    if not usable or budget <= 0:
        return []
    excess = np.array([max(b.support * (b.lift - 1.0), 1e-9) for b in usable])
    rows = np.minimum(np.floor(budget * excess / excess.sum()), spec.synthesis.max_rows_per_slice).astype(int)
    return [
        SliceRequest(b, int(n), int(round(n * b.positive_share)))
        for b, n in zip(usable, rows)
        if n > 0
    ]


class CopulaPerClassGenerator:
    """SDV GaussianCopula, one per class, conditioned on slice values and bins."""

    name = "sdv_gaussian_copula_per_class"

    def __init__(self, spec: DatasetSpec, profile: ReferenceProfile, seed: int = 0):
        self.spec, self.profile, self.seed = spec, profile, seed
        self.models: dict[int, object] = {}
        self.real: pd.DataFrame | None = None
        self.fitted_on = ""
        self.as_category: list[str] = []
        self.bin_columns: list[str] = []

    @property
    def version(self) -> str:
        import sdv

        return sdv.__version__

    def _encode(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df[list(self.spec.features)].copy()
        for col in self.as_category:
            out[col] = out[col].map(lambda v: None if pd.isna(v) else f"{v:g}").astype(object)
        for col in self.bin_columns:
            out[f"_bin_{col}"] = bin_index(df[col], self.profile.column(col).bin_edges).astype(str)
        return out

    def fit(self, real: pd.DataFrame, numeric_conditions: list[str]) -> "CopulaPerClassGenerator":
        """Fit on real labelled rows only; `numeric_conditions` names the numeric columns
        a predicate may restrict (they get a bin conditioning column)."""
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer

        self.real = real.reset_index(drop=True)
        self.fitted_on = content_hash(real[list(self.spec.features) + [self.spec.target]])
        self.as_category = [
            c for c in self.spec.integer if real[c].nunique() <= FEW_VALUES
        ]
        self.bin_columns = sorted(set(numeric_conditions))
        encoded = self._encode(self.real)
        labels = self.real[self.spec.target].astype(int)
        for label in (0, 1):
            part = encoded[labels.to_numpy() == label]
            if len(part) < 10:
                raise SynthesisError(f"only {len(part)} real rows of class {label}: cannot fit a generator")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metadata = Metadata.detect_from_dataframes({TABLE: part})
                for col in part.columns:
                    is_cat = col in self.spec.categorical or col in self.as_category or col.startswith("_bin_")
                    metadata.update_column(table_name=TABLE, column_name=col, sdtype="categorical" if is_cat else "numerical")
                synth = GaussianCopulaSynthesizer(metadata, default_distribution="truncnorm", enforce_min_max_values=True)
                synth.fit({TABLE: part})
            self.models[label] = synth
        return self

    def _sample_class(self, label: int, rows: int, spot: BlindSpot, seed: int) -> pd.DataFrame:
        from sdv.sampling import Condition

        values: dict[str, object] = {}
        for c in spot.conditions:
            if c.op == "==":
                values[c.column] = f"{c.value:g}" if c.column in self.as_category else c.value
        for col in {c.column for c in spot.conditions if c.op in (">=", "<")}:
            values[f"_bin_{col}"] = str(self._bin_of(spot, col))
        model = self.models[label]
        np.random.seed(seed)
        try:
            # SDV draws a progress bar per condition on stderr: it floods CLI and Dagster logs
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                if values:
                    out = model.sample_from_conditions([Condition(num_rows=rows, column_values=values)], max_tries_per_batch=50)[TABLE]
                else:
                    out = model.sample(num_rows=rows)[TABLE]
        except Exception as exc:  # SDV raises bare ValueErrors for unsatisfiable conditions
            raise SynthesisError(f"blind spot {spot.id} ({spot.predicate}), class {label}: {exc}") from None
        return self._decode(out, label, spot, seed)

    def _bin_of(self, spot: BlindSpot, col: str) -> int:
        lows = [c.value for c in spot.conditions if c.column == col and c.op == ">="]
        highs = [c.value for c in spot.conditions if c.column == col and c.op == "<"]
        edges = np.asarray(self.profile.column(col).bin_edges)
        point = lows[0] if lows else (highs[0] - 1e-9 if highs else 0.0)
        return int(np.searchsorted(edges, point, side="right"))

    def _decode(self, out: pd.DataFrame, label: int, spot: BlindSpot, seed: int) -> pd.DataFrame:
        out = out.drop(columns=[c for c in out.columns if c.startswith("_bin_")])
        for col in self.as_category:
            out[col] = pd.to_numeric(out[col], errors="coerce")
        rng = np.random.default_rng(seed)
        real = self.real[self.real[self.spec.target].astype(int) == label]
        for col in {c.column for c in spot.conditions if c.op in (">=", "<")}:
            inside = real[col][_range_mask(real[col], spot, col)].dropna().to_numpy()
            if len(inside) == 0:
                inside = self.real[col][_range_mask(self.real[col], spot, col)].dropna().to_numpy()
            if len(inside) == 0:
                raise SynthesisError(f"blind spot {spot.id} ({spot.predicate}): no real value of '{col}' in its range")
            out[col] = rng.choice(inside, size=len(out))
        for col in self.spec.integer:
            out[col] = out[col].round()
        out[self.spec.target] = float(label)
        return out

    def sample_slice(self, request: SliceRequest, seed: int) -> pd.DataFrame:
        parts = []
        for label, rows in ((1, request.positives), (0, request.rows - request.positives)):
            if rows > 0:
                parts.append(self._sample_class(label, rows, request.blind_spot, seed + label))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _range_mask(values: pd.Series, spot: BlindSpot, col: str) -> pd.Series:
    mask = pd.Series(True, index=values.index)
    frame = values.to_frame(col)
    for c in spot.conditions:
        if c.column == col:
            mask &= c.mask(frame)
    return mask


def generate(
    real: pd.DataFrame,
    plan: list[SliceRequest],
    spec: DatasetSpec,
    profile: ReferenceProfile,
    cycle: str,
    seed: int | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Synthetic rows for the plan, with lineage columns. Returns (rows, failures)."""
    seed = spec.synthesis.seed if seed is None else seed
    if not plan:
        return pd.DataFrame(), []
    numeric = [c.column for r in plan for c in r.blind_spot.conditions if c.op in (">=", "<")]
    generator = CopulaPerClassGenerator(spec, profile, seed).fit(real, numeric)
    frames, failures = [], []
    for i, request in enumerate(plan):
        try:
            rows = generator.sample_slice(request, seed + 1000 * i)
        except SynthesisError as exc:
            failures.append(str(exc))
            continue
        rows["_blind_spot_id"] = request.blind_spot.id
        frames.append(rows)
    if not frames:
        return pd.DataFrame(), failures
    out = pd.concat(frames, ignore_index=True)
    out[BATCH] = cycle
    out["_synthetic"] = True
    out["_generator"] = generator.name
    out["_generator_version"] = generator.version
    out["_seed"] = seed
    out["_cycle"] = cycle
    out["_fitted_on"] = generator.fitted_on
    return out, failures
