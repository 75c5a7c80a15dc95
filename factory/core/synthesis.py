"""Targeted synthesis: rows for exactly the blind spots, each carrying its lineage.

Design. FINDINGS.md: one joint copula flattens P(label | x) and SDV's parametric
marginals lose heavy discrete modes. So the default generator is a Gaussian copula
per class (label fidelity by construction: each class keeps its own marginals, so
P(value | label), hence P(label | value), is preserved) whose marginals are the
empirical distributions of the real rows (heavy modes, integrality and bounds kept
exactly). Conditioning is done in the copula's latent space instead of SDV's
`sample_from_conditions` (measured: ~20 s fit and ~650 rows/s per condition there,
and no numeric ranges): every predicate clause (categorical equality, numeric range,
null) is an interval of the column's empirical CDF, i.e. a box in latent space. The
conditioned coordinates are drawn from the truncated multivariate normal (a short
vectorised Gibbs sampler), the others from the Gaussian conditional given them, and
decoding maps each coordinate back into its interval: every row satisfies its
predicate exactly, with no rejection, at any prevalence. An autoregressive token
model (factory/core/argn.py), SDV CTGAN and TVAE are available behind the same
interface (spec.synthesis.generator); `auto` fits the copula and the autoregressive
model on a split of the real rows and keeps the one with the better measured fidelity.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import pickle
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from tqdm import tqdm

from factory.core.dataset import BATCH, content_hash
from factory.core.errors import SynthesisError
from factory.core.spec import DatasetSpec, replace
from factory.core.types import BlindSpot, ReferenceProfile

if TYPE_CHECKING:
    from factory.core.storage import Storage

LOG = logging.getLogger(__name__)
TABLE = "t"
GENERATORS = ("gaussian_copula", "autoregressive", "ctgan", "tvae", "auto")
COPULA_VERSION = "latent-copula/2"  # bump when the fitted state or sampling changes: invalidates the cache
GIBBS_SWEEPS = 20
RULE_RETRIES = 20
AUTO_CANDIDATES = ("gaussian_copula", "autoregressive")  # not CTGAN/TVAE: too slow on 2 cores
AUTO_HELD_OUT_ROWS = 5000
AUTO_LABEL_FACTOR = 3
STRATUM_MIN_ROWS = 200  # a stratum's rows of one class below this are pooled


@dataclass(frozen=True)
class SliceRequest:
    blind_spot: BlindSpot
    rows: int
    positives: int
    want: int = 0  # rows the slice asked for, before the caps
    why: str = ""  # how it got its rows, or why it got none


@dataclass(frozen=True)
class GenerationPlan:
    """Rows per slice and their label mix, with the caps that shaped them. Every blind
    spot is listed, planned or skipped, so the plan says why each got what it got."""

    slices: tuple[SliceRequest, ...]
    real_rows: int  # real training rows the shares are taken of
    budget: int  # at most this many rows in total
    slice_cap: int  # at most this many rows per slice
    reason: str = ""  # why nothing is planned (empty when something is)

    @property
    def requests(self) -> list[SliceRequest]:
        return [r for r in self.slices if r.rows > 0]

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.slices)

    def table(self) -> list[dict]:
        return [dict(blind_spot_id=r.blind_spot.id, predicate=r.blind_spot.predicate, kind=r.blind_spot.kind, want=r.want,
                     rows=r.rows, positives=r.positives, why=r.why) for r in self.slices]

    def as_dict(self) -> dict:
        return dict(real_rows=self.real_rows, budget=self.budget, slice_cap=self.slice_cap, rows=self.rows,
                    planned=len(self.requests), skipped=len(self.slices) - len(self.requests), reason=self.reason,
                    slices=self.table())


def wanted_rows(spot: BlindSpot) -> int:
    """A coverage gap wants the training rows it lacks (its deficit). An error slice
    (or a low-confidence region) wants support x (lift - 1): its excess errors over
    the overall rate, counted in rows (excess errors / overall error rate)."""
    if spot.kind == "coverage":
        return max(int(spot.deficit), 0)
    want = spot.support * (spot.lift - 1.0)
    return int(round(want)) if np.isfinite(want) and want > 0 else 0


def plan_generation(blind_spots: list[BlindSpot] | tuple[BlindSpot, ...], real_rows: int, spec: DatasetSpec) -> GenerationPlan:
    """Each slice's want (wanted_rows), capped per slice (max_rows_per_slice, max_slice_share
    x real rows), then scaled down together when they exceed the budget (synthetic_share
    x real rows, and max_rows). Label mix: spec positive_share, else the slice's own."""
    s = spec.synthesis
    budget = int(s.synthetic_share * real_rows) if s.max_rows is None else min(int(s.synthetic_share * real_rows), s.max_rows)
    cap = min(s.max_rows_per_slice, int(s.max_slice_share * real_rows))
    if not blind_spots:
        return GenerationPlan((), real_rows, budget, cap, "no blind spots to target")
    null = [any(c.op == "is_null" for c in b.conditions) for b in blind_spots]
    wants = [0 if skip else wanted_rows(b) for b, skip in zip(blind_spots, null)]
    capped = [min(w, cap) for w in wants]
    scale = min(1.0, max(budget, 0) / sum(capped)) if sum(capped) else 1.0
    slices = []
    for b, skip, want, kept in zip(blind_spots, null, wants, capped):
        rows = int(np.floor(kept * scale))
        if skip:
            why = "skipped: an IS NULL clause (missing values are not synthesised)"
        elif want == 0:
            why = "skipped: wants no rows (no deficit, no excess errors)"
        else:
            why = f"wants {want} ({'its deficit' if b.kind == 'coverage' else 'support x (lift - 1)'})" + (f", capped at {cap} per slice" if want > cap else "")
            why += f", scaled by {scale:.2f} to the budget of {budget}" if scale < 1 else ""
            why += ": rounds to 0 rows" if rows == 0 else ""
        share = b.positive_share if s.positive_share is None else s.positive_share
        slices.append(SliceRequest(b, rows, int(round(rows * share)), want, why))
    plan = GenerationPlan(tuple(slices), real_rows, budget, cap)
    if plan.requests:
        return plan
    if budget <= 0:
        reason = f"the budget is 0 rows (synthetic_share {s.synthetic_share:g} x {real_rows} real rows, max_rows {s.max_rows})"
    elif cap <= 0:
        reason = f"the per-slice cap is 0 rows (max_slice_share {s.max_slice_share:g} x {real_rows} real rows, max_rows_per_slice {s.max_rows_per_slice})"
    else:
        reason = "no slice got rows: see each slice's why"
    return dataclasses.replace(plan, reason=reason)


class Generator(Protocol):
    name: str
    fitted_on: str

    @property
    def version(self) -> str: ...

    def fit(self, real: pd.DataFrame) -> "Generator": ...

    def sample_slice(self, request: SliceRequest, seed: int) -> pd.DataFrame: ...


# -- the latent-space Gaussian copula ------------------------------------------------

def _truncnorm(mu: np.ndarray, sd: float | np.ndarray, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal(mu, sd) truncated to [lo, hi], by inverse CDF on the side away from the
    tail (accurate far out in either tail)."""
    a, b = (lo - mu) / sd, (hi - mu) / sd
    flip = a > 0
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    pa, pb = ndtr(a), ndtr(b)
    x = ndtri(np.clip(pa + rng.random(np.shape(mu)) * (pb - pa), 1e-300, 1 - 1e-16))
    x = np.clip(x, a, b)  # an interval too far out for float precision collapses onto its edge
    return mu + sd * np.where(flip, -x, x)


def _truncated_mvn(corr: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of N(0, corr) truncated to the box [lo, hi]: Gibbs sweeps, one chain per row."""
    k = len(lo)
    z = np.column_stack([_truncnorm(np.zeros(n), 1.0, lo[j], hi[j], rng) for j in range(k)])
    if k == 1:
        return z
    precision = np.linalg.inv(corr)
    for _ in range(GIBBS_SWEEPS):
        for j in range(k):
            pjj = precision[j, j]
            mu = -(z @ precision[j] - pjj * z[:, j]) / pjj
            z[:, j] = _truncnorm(mu, 1.0 / np.sqrt(pjj), lo[j], hi[j], rng)
    return z


class ClassCopula:
    """A Gaussian copula over one class's rows with empirical marginals: each column's
    sorted real values (NaN last, so missing values are a block of the CDF too)."""

    def __init__(self, x: np.ndarray, rng: np.random.Generator):
        self.n, self.d = x.shape
        self.sorted = np.sort(x, axis=0)
        u = np.empty_like(x)
        self.ranks = np.empty(x.shape, dtype=np.int32)  # each row's first sorted position per column: slice masses
        for j in range(self.d):
            lo = np.searchsorted(self.sorted[:, j], x[:, j], side="left")
            hi = np.searchsorted(self.sorted[:, j], x[:, j], side="right")
            self.ranks[:, j] = lo
            u[:, j] = (lo + rng.random(self.n) * (hi - lo)) / self.n  # ties spread uniformly over their CDF step
        z = ndtri(np.clip(u, 0.5 / self.n, 1 - 0.5 / self.n))
        corr = np.corrcoef(z, rowvar=False) if self.n > 1 else np.eye(self.d)
        corr = np.nan_to_num(np.atleast_2d(corr))
        self.corr = 0.999 * corr + 0.001 * np.eye(self.d)  # keeps it positive definite
        np.fill_diagonal(self.corr, 1.0)
        self.chol = np.linalg.cholesky(self.corr)

    def index_range(self, j: int, op: str, value: float) -> tuple[int, int]:
        """Rows [i0, i1) of column j's sorted values that satisfy `column op value`."""
        col = self.sorted[:, j]
        present = int(np.searchsorted(col, np.nan, side="left"))
        if op == "==":
            return int(np.searchsorted(col, value, "left")), int(np.searchsorted(col, value, "right"))
        if op == ">=":
            return int(np.searchsorted(col, value, "left")), present
        if op == "<":
            return 0, int(np.searchsorted(col, value, "left"))
        if op == "is_null":
            return present, self.n
        raise SynthesisError(f"unknown operator {op!r}")

    def mass(self, box: dict[int, tuple[int, int]]) -> int:
        """Real rows of this copula inside the box."""
        inside = np.ones(self.n, dtype=bool)
        for j, (i0, i1) in box.items():
            inside &= (self.ranks[:, j] >= i0) & (self.ranks[:, j] < i1)
        return int(inside.sum())

    def sample(self, rows: int, box: dict[int, tuple[int, int]], rng: np.random.Generator) -> np.ndarray:
        """`rows` draws whose column j falls in sorted rows box[j] (exactly)."""
        cond = sorted(box)
        free = [j for j in range(self.d) if j not in box]
        if not cond:
            z = rng.standard_normal((rows, self.d)) @ self.chol.T
        else:
            lo = ndtri(np.array([box[j][0] / self.n for j in cond]))
            hi = ndtri(np.array([box[j][1] / self.n for j in cond]))
            s_cc = self.corr[np.ix_(cond, cond)]
            zc = _truncated_mvn(s_cc, lo, hi, rows, rng)
            z = np.empty((rows, self.d))
            z[:, cond] = zc
            if free:
                s_fc = self.corr[np.ix_(free, cond)]
                a = np.linalg.solve(s_cc, s_fc.T).T
                cov = self.corr[np.ix_(free, free)] - a @ s_fc.T
                chol = np.linalg.cholesky((cov + cov.T) / 2 + 1e-9 * np.eye(len(free)))
                z[:, free] = zc @ a.T + rng.standard_normal((rows, len(free))) @ chol.T
        idx = np.clip(np.floor(ndtr(z) * self.n).astype(np.int64), 0, self.n - 1)
        for j, (i0, i1) in box.items():
            idx[:, j] = np.clip(idx[:, j], i0, i1 - 1)
        return np.take_along_axis(self.sorted, idx, axis=0)


class LatentCopulaGenerator:
    """One ClassCopula per class (and per stratum, spec synthesis.strata); slices
    conditioned by truncation in latent space."""

    name = "gaussian_copula"

    def __init__(self, spec: DatasetSpec, seed: int = 0):
        self.spec, self.seed = spec, seed
        self.columns = list(spec.features)
        self.categories: dict[str, list] = {}
        self.models: dict[int, list[ClassCopula]] = {}
        self.fitted_on = ""

    @property
    def version(self) -> str:
        return COPULA_VERSION

    def _encode(self, df: pd.DataFrame) -> np.ndarray:
        return encode(df, self.columns, self.categories)

    def _decode(self, x: np.ndarray) -> pd.DataFrame:
        return decode(x, self.columns, self.categories)

    def _strata(self, real: pd.DataFrame) -> np.ndarray:
        key = np.full(len(real), "", dtype=object)
        for column in self.spec.synthesis.strata:
            key = key + "|" + real[column].astype(str).to_numpy()
        return key

    def fit(self, real: pd.DataFrame) -> "LatentCopulaGenerator":
        """Fit on real labelled rows only: per class, one copula per stratum with at least
        STRATUM_MIN_ROWS rows and one over the pooled rest."""
        self.fitted_on = content_hash(real[self.columns + [self.spec.target]])
        self.categories = {c: list(real[c].value_counts(dropna=True).index) for c in self.spec.categorical}
        x = self._encode(real)
        labels = real[self.spec.target].astype(int).to_numpy()
        key = self._strata(real)
        rng = np.random.default_rng(self.seed)
        for label in (0, 1):
            part, keys = x[labels == label], key[labels == label]
            if len(part) < 10:
                raise SynthesisError(f"only {len(part)} real rows of class {label}: cannot fit a generator")
            start = time.perf_counter()
            values, counts = np.unique(keys, return_counts=True)
            own = values[counts >= STRATUM_MIN_ROWS] if len(values) > 1 else values
            groups = [part[keys == v] for v in own]
            rest = part[~np.isin(keys, own)]
            if len(rest) >= 10 or not groups:
                groups.append(rest)
            self.models[label] = [ClassCopula(g, rng) for g in groups]
            LOG.info("fitted latent copula for class %d on %d rows x %d columns (%d strata) in %.2f s", label, len(part), x.shape[1],
                     len(groups), time.perf_counter() - start)
        return self

    def _box(self, model: ClassCopula, spot: BlindSpot) -> dict[int, tuple[int, int]] | None:
        """The slice as sorted-row intervals of this copula; None when it has no real
        value inside some clause (the caller decides if that is impossible)."""
        box: dict[int, tuple[int, int]] = {}
        for c in spot.conditions:
            if c.column not in self.columns:
                raise SynthesisError(f"blind spot {spot.id} ({spot.predicate}): column '{c.column}' is not a feature")
            j = self.columns.index(c.column)
            value = c.value
            if c.column in self.categories and c.op != "is_null":
                if c.op != "==" or value not in self.categories[c.column]:
                    return None
                value = float(self.categories[c.column].index(value))
            i0, i1 = model.index_range(j, c.op, value)
            p0, p1 = box.get(j, (0, model.n))
            box[j] = (max(i0, p0), min(i1, p1))
            if box[j][0] >= box[j][1]:
                return None
        return box

    @staticmethod
    def _allocate(models: list[ClassCopula], boxes: list, rows: int, rng: np.random.Generator) -> list[int]:
        """Rows per stratum: in proportion to its real rows inside the slice, or, when no
        real row of the class is inside, to its size times its clauses' marginal shares."""
        if len(models) == 1:
            return [rows]
        weights = np.array([m.mass(b) if b is not None else 0 for m, b in zip(models, boxes)], dtype=float)
        if weights.sum() == 0:
            weights = np.array([m.n * np.prod([(i1 - i0) / m.n for i0, i1 in b.values()]) if b is not None else 0.0
                                for m, b in zip(models, boxes)])
        return list(rng.multinomial(rows, weights / weights.sum()))

    def _draw(self, label: int, boxes: list, rows: int, rng: np.random.Generator) -> pd.DataFrame:
        """Rows of one class inside the slice, shared among its strata (redraws for the
        business rules share again, so a stratum the rules cut deep is not stuck)."""
        models = self.models[label]
        counts = self._allocate(models, boxes, rows, rng)
        return pd.concat([self._decode(m.sample(k, b, rng)) for m, b, k in zip(models, boxes, counts) if k > 0], ignore_index=True)

    def sample_slice(self, request: SliceRequest, seed: int) -> pd.DataFrame:
        spot = request.blind_spot
        boxes = {label: [self._box(m, spot) for m in self.models[label]] for label in (0, 1)}
        possible = {label: any(b is not None for b in boxes[label]) for label in (0, 1)}
        if not any(possible.values()):
            raise SynthesisError(f"blind spot {spot.id} ({spot.predicate}) is impossible: no real row of the data the generator was fitted on "
                                 "holds a value inside one of its clauses (empty range or unseen category)")
        wanted = {1: request.positives, 0: request.rows - request.positives}
        for label in (0, 1):
            if not possible[label] and wanted[label] > 0:
                LOG.warning("blind spot %s: no real row of class %d in it; its %d rows go to the other class", spot.id, label, wanted[label])
                wanted[1 - label] += wanted[label]
                wanted[label] = 0
        parts = []
        for label in (1, 0):
            if wanted[label] > 0:
                rng = np.random.default_rng([seed, label])
                part = draw_with_rules(lambda n, label=label, rng=rng: self._draw(label, boxes[label], n, rng), wanted[label], self.spec.rules)
                part[self.spec.target] = float(label)
                parts.append(part)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def encode(df: pd.DataFrame, columns: list[str], categories: dict[str, list]) -> np.ndarray:
    """Numbers as they are; categories as codes in frequency order (NaN stays NaN)."""
    out = np.empty((len(df), len(columns)))
    for j, col in enumerate(columns):
        if col in categories:
            codes = {v: i for i, v in enumerate(categories[col])}
            out[:, j] = df[col].map(codes).astype(float).to_numpy()
        else:
            out[:, j] = pd.to_numeric(df[col], errors="coerce").astype(float).to_numpy()
    return out


def decode(x: np.ndarray, columns: list[str], categories: dict[str, list]) -> pd.DataFrame:
    data = {}
    for j, col in enumerate(columns):
        if col in categories:
            cats = np.array(categories[col] + [None], dtype=object)
            codes = np.where(np.isnan(x[:, j]), len(cats) - 1, x[:, j]).astype(int)
            data[col] = cats[codes]
        else:
            data[col] = x[:, j]
    return pd.DataFrame(data)


def draw_with_rules(sample, rows: int, rules: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """`sample(n)` -> n decoded rows; rows breaking a business rule are redrawn (those
    still breaking one after RULE_RETRIES rounds are dropped)."""
    parts, need = [], rows
    for _ in range(RULE_RETRIES + 1):
        part = sample(need)
        part = part[rules_hold(part, rules)]
        parts.append(part)
        need -= len(part)
        if need == 0:
            break
    return pd.concat(parts, ignore_index=True)


def rules_hold(rows: pd.DataFrame, rules: tuple[str, ...] | list[str]) -> pd.Series:
    """True where a row satisfies every business rule of the spec."""
    ok = pd.Series(True, index=rows.index)
    columns = {c: rows[c] for c in rows.columns}  # resolvers built once: DataFrame.eval rebuilds them per call (5x slower)
    for rule in rules:
        ok &= pd.Series(pd.eval(rule, resolvers=(columns,)), index=rows.index).fillna(False).astype(bool)
    return ok


# -- SDV's neural generators, as options -----------------------------------------------

class SDVNeuralGenerator:
    """SDV CTGAN or TVAE, one per class, with an epoch and wall-time budget. They cannot
    condition on ranges: equality clauses go to sample_from_conditions, the rest is
    filtered; a slice that stays short within the sampling budget is a failure."""

    def __init__(self, spec: DatasetSpec, kind: str, seed: int = 0):
        self.spec, self.kind, self.seed = spec, kind, seed
        self.name = kind
        self.columns = list(spec.features)
        self.models: dict[int, object] = {}
        self.fitted_on = ""

    @property
    def version(self) -> str:
        import sdv

        return f"sdv-{sdv.__version__}"

    def _synthesizer(self, metadata, epochs: int):
        from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

        cls = CTGANSynthesizer if self.kind == "ctgan" else TVAESynthesizer
        return cls(metadata, epochs=max(1, epochs), enforce_min_max_values=True)

    def fit(self, real: pd.DataFrame) -> "SDVNeuralGenerator":
        import torch
        from sdv.metadata import Metadata

        settings = self.spec.synthesis
        self.fitted_on = content_hash(real[self.columns + [self.spec.target]])
        labels = real[self.spec.target].astype(int).to_numpy()
        torch.manual_seed(self.seed)
        for label in (0, 1):
            part = real.loc[labels == label, self.columns].reset_index(drop=True)
            if len(part) < 10:
                raise SynthesisError(f"only {len(part)} real rows of class {label}: cannot fit a generator")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metadata = Metadata.detect_from_dataframes({TABLE: part})
                for col in self.columns:
                    metadata.update_column(table_name=TABLE, column_name=col, sdtype="categorical" if col in self.spec.categorical else "numerical")
                # wall-time budget: time one epoch, then fit as many epochs as the budget allows
                start = time.perf_counter()
                probe = self._synthesizer(metadata, 1)
                probe.fit({TABLE: part})
                per_epoch = time.perf_counter() - start
                epochs = int(min(settings.epochs, max(1, (settings.max_fit_seconds / 2 - per_epoch) // max(per_epoch, 1e-6))))
                LOG.info("%s class %d: one epoch on %d rows took %.1f s; fitting %d epoch(s)", self.kind, label, len(part), per_epoch, epochs)
                synth = probe
                if epochs > 1:
                    synth = self._synthesizer(metadata, epochs)
                    synth.fit({TABLE: part})
            LOG.info("%s class %d fitted in %.1f s", self.kind, label, time.perf_counter() - start)
            self.models[label] = synth
        return self

    def _sample_class(self, label: int, rows: int, spot: BlindSpot, seed: int) -> pd.DataFrame:
        import torch
        from sdv.sampling import Condition

        equal = {c.column: c.value for c in spot.conditions if c.op == "=="}
        model, got, start = self.models[label], [], time.perf_counter()
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        have = 0
        while have < rows and time.perf_counter() - start < self.spec.synthesis.max_sample_seconds:
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                try:
                    if equal:
                        out = model.sample_from_conditions([Condition(num_rows=rows, column_values=equal)], max_tries_per_batch=20)[TABLE]
                    else:
                        out = model.sample(num_rows=max(rows, 1000))[TABLE]
                except Exception as exc:  # SDV raises bare ValueErrors when rejection finds nothing
                    raise SynthesisError(f"blind spot {spot.id} ({spot.predicate}), class {label}: {exc}") from None
            out = out[spot.mask(out) & rules_hold(out, self.spec.rules)]
            got.append(out)
            have += len(out)
        if have < rows:
            raise SynthesisError(f"blind spot {spot.id} ({spot.predicate}), class {label}: only {have} of {rows} rows "
                                 f"within {self.spec.synthesis.max_sample_seconds:g} s of sampling")
        frame = pd.concat(got, ignore_index=True).head(rows)
        for col in self.spec.integer:
            frame[col] = frame[col].round()
        frame[self.spec.target] = float(label)
        return frame

    def sample_slice(self, request: SliceRequest, seed: int) -> pd.DataFrame:
        parts = [self._sample_class(label, n, request.blind_spot, seed + label)
                 for label, n in ((1, request.positives), (0, request.rows - request.positives)) if n > 0]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# -- fitting with a cache, and generation ---------------------------------------------------

def make_generator(spec: DatasetSpec, seed: int = 0) -> Generator:
    kind = spec.synthesis.generator
    if kind == "gaussian_copula":
        return LatentCopulaGenerator(spec, seed)
    if kind == "autoregressive":
        from factory.core.argn import ARGNGenerator  # imports synthesis: lazily, both ways

        return ARGNGenerator(spec, seed)
    if kind in ("ctgan", "tvae"):
        return SDVNeuralGenerator(spec, kind, seed)
    raise SynthesisError(f"{spec.spec_path}: synthesis: generator '{kind}' is not one of {list(GENERATORS)}")


def generator_key(real: pd.DataFrame, spec: DatasetSpec, seed: int = 0) -> str:
    """The cache key: content hash of the real rows it is fitted on, plus everything in
    the spec and code that changes the fit. Ranges need no conditioning column here, so
    the blind spots' columns are not part of it: one fit serves every plan."""
    from factory.core.argn import ARGN_VERSION

    s = spec.synthesis
    parts = [content_hash(real[list(spec.features) + [spec.target]]), s.generator, s.epochs, s.max_fit_seconds, seed,
             spec.numeric, spec.categorical, spec.rules, COPULA_VERSION]
    if s.generator in ("autoregressive", "auto"):
        parts.append(ARGN_VERSION)  # appended only here: the copula's keys stay as they were
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _with_generator(spec: DatasetSpec, kind: str) -> DatasetSpec:
    return replace(spec, synthesis=dataclasses.replace(spec.synthesis, generator=kind))


def _everywhere(real: pd.DataFrame, spec: DatasetSpec, rows: int) -> SliceRequest:
    """An unconditioned request at the real class mix."""
    share = float(real[spec.target].mean())
    spot = BlindSpot(conditions=(), kind="untargeted", support=len(real), errors=0, error_rate=0.0, error_low=0.0,
                     error_high=0.0, overall_error=0.0, lift=1.0, p_value=1.0, positive_share=share)
    return SliceRequest(spot, rows, int(round(rows * share)))


def choose_generator(real: pd.DataFrame, spec: DatasetSpec, storage: "Storage | None" = None, seed: int = 0) -> dict:
    """`generator: auto`: fit each of AUTO_CANDIDATES on 80% of the real rows and keep
    the one with the lowest label_gap_max + |discriminator AUC - 0.5|. The label gaps
    (|P(label | value) real - synthetic| over categorical values with >= 100 real rows)
    compare AUTO_LABEL_FACTOR x the fit rows of unconditional synthetic rows with the fit
    rows (many rows: little sampling noise); the discriminator tells the held-out 20%
    from as many synthetic rows. Cached as generators/<key>.choice.json (same content
    hash as the fitted generators). quality.py is imported lazily: it is only needed here."""
    key = f"generators/{generator_key(real, spec, seed)}.choice.json"
    if storage is not None and storage.exists(key):
        return storage.read_json(key)
    from factory.core.fidelity import label_fidelity_gaps
    from factory.core.quality import discriminator_auc

    shuffled = real.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cut = int(0.8 * len(shuffled))
    fit_rows, held_out = shuffled.iloc[:cut].reset_index(drop=True), shuffled.iloc[cut:].head(AUTO_HELD_OUT_ROWS).reset_index(drop=True)
    candidates = {}
    for kind in AUTO_CANDIDATES:
        start = time.perf_counter()
        generator = make_generator(_with_generator(spec, kind), seed).fit(fit_rows)
        fit_seconds = time.perf_counter() - start
        rows = generator.sample_slice(_everywhere(fit_rows, spec, min(AUTO_LABEL_FACTOR * len(fit_rows), 60_000)), seed)
        gaps = label_fidelity_gaps(fit_rows, rows, spec)
        auc = discriminator_auc(held_out, rows.head(len(held_out)), spec, seed)
        gap_max, gap_mean = gaps["max"] or 0.0, gaps["mean"] or 0.0
        candidates[kind] = dict(label_gap_max=round(gap_max, 4), label_gap_mean=round(gap_mean, 4), label_gap_values=len(gaps["per_value"]),
                                discriminator_auc=round(auc, 4), score=round(gap_max + abs(auc - 0.5), 4), fit_seconds=round(fit_seconds, 1))
        LOG.info("generator choice: %s %s", kind, candidates[kind])
    best = min(candidates, key=lambda k: candidates[k]["score"])
    choice = dict(generator=best, rule="lowest label_gap_max + |discriminator_auc - 0.5|", fit_rows=len(fit_rows),
                  held_out_rows=len(held_out), candidates=candidates)
    LOG.info("generator choice: %s", best)
    if storage is not None:
        storage.write_json(key, choice)
    return choice


def generator_choice(real: pd.DataFrame, spec: DatasetSpec, storage: "Storage | None" = None, seed: int | None = None) -> dict:
    """Which generator these rows get, and for `auto` why (its numbers): for the plan."""
    seed = spec.synthesis.seed if seed is None else seed
    if spec.synthesis.generator != "auto":
        return {"generator": spec.synthesis.generator}
    return choose_generator(real, spec, storage, seed)


def fit_generator(real: pd.DataFrame, spec: DatasetSpec, storage: "Storage | None" = None, seed: int = 0) -> tuple[Generator, bool]:
    """The fitted generator for these real rows, reused from `generators/<key>.pkl` when
    the same data was fitted before. Returns (generator, reused)."""
    if spec.synthesis.generator == "auto":
        choice = choose_generator(real, spec, storage, seed)
        return fit_generator(real, _with_generator(spec, choice["generator"]), storage, seed)
    key = f"generators/{generator_key(real, spec, seed)}.pkl"
    if storage is not None and storage.exists(key):
        try:
            generator = pickle.loads(storage.read_bytes(key))
            LOG.info("reusing the fitted generator %s", storage.uri(key))
            return generator, True
        except Exception as exc:  # a stale pickle (library upgrade) is refitted, not fatal
            LOG.warning("cannot load %s (%s): refitting", storage.uri(key), exc)
    start = time.perf_counter()
    LOG.info("fitting %s on %d real rows", spec.synthesis.generator, len(real))
    generator = make_generator(spec, seed).fit(real.reset_index(drop=True))
    LOG.info("fitted %s in %.1f s", spec.synthesis.generator, time.perf_counter() - start)
    if storage is not None:
        storage.write_bytes(key, pickle.dumps(generator))
    return generator, False


def generate(
    real: pd.DataFrame,
    plan: list[SliceRequest],
    spec: DatasetSpec,
    profile: ReferenceProfile,
    cycle: str,
    seed: int | None = None,
    storage: "Storage | None" = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Synthetic rows for the plan, with lineage columns. Returns (rows, failures).
    `profile` is unused by the default generator (kept for the stage interface)."""
    seed = spec.synthesis.seed if seed is None else seed
    if not plan:
        return pd.DataFrame(), []
    generator, _ = fit_generator(real, spec, storage, seed)
    frames, failures = [], []
    for i, request in enumerate(tqdm(plan, desc=f"synthesis {cycle}", unit="slice", disable=None, leave=False)):
        start = time.perf_counter()
        try:
            rows = generator.sample_slice(request, seed + 1000 * i)
        except SynthesisError as exc:
            failures.append(str(exc))
            continue
        if len(rows) < request.rows:
            failures.append(f"blind spot {request.blind_spot.id} ({request.blind_spot.predicate}): {request.rows - len(rows)} of "
                            f"{request.rows} rows dropped: they kept breaking a business rule")
        LOG.info("slice %d/%d %s: %d rows in %.2f s", i + 1, len(plan), request.blind_spot.predicate or "(everywhere)", len(rows), time.perf_counter() - start)
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
