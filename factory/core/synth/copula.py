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

import logging
import time

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from factory.core.base.dataset import content_hash
from factory.core.base.errors import SynthesisError
from factory.core.base.spec import DatasetSpec
from factory.core.synth.codec import (
    decode,
    draw_with_rules,
    encode,
    impossible,
    predicate_box,
)
from factory.core.synth.plan import SliceRequest

LOG = logging.getLogger(__name__)
COPULA_VERSION = "latent-copula/4"  # bump when the fitted state or sampling changes: invalidates the cache
GIBBS_SWEEPS = 20
STRATUM_MIN_ROWS = 200  # a stratum's rows of one class below this are pooled


def _truncnorm(
    mu: np.ndarray, sd: float | np.ndarray, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
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

    ARRAYS = ("sorted", "ranks", "corr", "chol")  # the whole fitted state: what the cache stores

    def __init__(self, sorted_values: np.ndarray, ranks: np.ndarray, corr: np.ndarray, chol: np.ndarray):
        self.sorted, self.ranks, self.corr, self.chol = sorted_values, ranks, corr, chol
        self.n, self.d = sorted_values.shape

    @classmethod
    def fit(cls, x: np.ndarray, rng: np.random.Generator) -> "ClassCopula":
        n, d = x.shape
        ordered = np.sort(x, axis=0)
        u = np.empty_like(x)
        ranks = np.empty(x.shape, dtype=np.int32)  # each row's first sorted position per column: slice masses
        for j in range(d):
            lo = np.searchsorted(ordered[:, j], x[:, j], side="left")
            hi = np.searchsorted(ordered[:, j], x[:, j], side="right")
            ranks[:, j] = lo
            u[:, j] = (lo + rng.random(n) * (hi - lo)) / n  # ties spread uniformly over their CDF step
        z = ndtri(np.clip(u, 0.5 / n, 1 - 0.5 / n))
        corr = np.corrcoef(z, rowvar=False) if n > 1 else np.eye(d)
        corr = 0.999 * np.nan_to_num(np.atleast_2d(corr)) + 0.001 * np.eye(d)  # keeps it positive definite
        np.fill_diagonal(corr, 1.0)
        return cls(ordered, ranks, corr, np.linalg.cholesky(corr))

    def mass(self, box: dict[int, tuple[int, int]]) -> int:
        """Real rows of this copula inside the box."""
        inside = np.ones(self.n, dtype=bool)
        for j, (i0, i1) in box.items():
            inside &= (self.ranks[:, j] >= i0) & (self.ranks[:, j] < i1)
        return int(inside.sum())

    def sample(
        self, rows: int, box: dict[int, tuple[int, int]], rng: np.random.Generator, smooth: np.ndarray | None = None
    ) -> np.ndarray:
        """`rows` draws whose column j falls in sorted rows box[j] (exactly). Columns marked
        in `smooth` (numeric ones) are interpolated between neighbouring sorted values by the
        draw's position between them, so they take new values inside the empirical CDF's
        steps instead of resampling real ones (equal neighbours, a heavy mode, stay as they
        are; the box and the missing block are never left)."""
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
        position = ndtr(z) * self.n
        idx = np.clip(np.floor(position).astype(np.int64), 0, self.n - 1)
        top = np.tile((~np.isnan(self.sorted)).sum(axis=0) - 1, (rows, 1))  # the last value per column (NaN last)
        for j, (i0, i1) in box.items():
            idx[:, j] = np.clip(idx[:, j], i0, i1 - 1)
            top[:, j] = np.minimum(top[:, j], i1 - 1)
        values = np.take_along_axis(self.sorted, idx, axis=0)
        if smooth is None or not smooth.any():
            return values
        upper = np.take_along_axis(self.sorted, np.clip(np.minimum(idx + 1, top), 0, self.n - 1), axis=0)
        inside = smooth[None, :] & (idx < top) & np.isfinite(values) & np.isfinite(upper)
        return np.where(inside, values + np.clip(position - idx, 0, 1) * (upper - values), values)


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

    @property
    def _smooth(self) -> np.ndarray:
        """The columns sampled between real values: the numeric ones."""
        return np.array([c not in self.categories for c in self.columns])

    def _decode(self, x: np.ndarray) -> pd.DataFrame:
        """Rows from codes; smoothed integer columns rounded back to whole numbers."""
        rows = decode(x, self.columns, self.categories)
        for col in self.spec.integer:
            rows[col] = rows[col].round()
        return rows

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
            self.models[label] = [ClassCopula.fit(g, rng) for g in groups]
            LOG.info(
                "fitted latent copula for class %d on %d rows x %d columns (%d strata) in %.2f s",
                label,
                len(part),
                x.shape[1],
                len(groups),
                time.perf_counter() - start,
            )
        return self

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The fitted state as arrays and plain values (the cache stores no pickle)."""
        arrays = {
            f"class{label}.{i}.{name}": getattr(m, name)
            for label, models in self.models.items()
            for i, m in enumerate(models)
            for name in ClassCopula.ARRAYS
        }
        strata = {str(label): len(models) for label, models in self.models.items()}
        return arrays, dict(columns=self.columns, categories=self.categories, fitted_on=self.fitted_on, strata=strata)

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> "LatentCopulaGenerator":
        """The generator `state()` describes: it samples exactly the rows the fitted one did."""
        self.columns, self.categories, self.fitted_on = meta["columns"], meta["categories"], meta["fitted_on"]
        self.models = {
            int(label): [
                ClassCopula(*(arrays[f"class{label}.{i}.{name}"] for name in ClassCopula.ARRAYS)) for i in range(count)
            ]
            for label, count in meta["strata"].items()
        }
        return self

    @staticmethod
    def _allocate(models: list[ClassCopula], boxes: list, rows: int, rng: np.random.Generator) -> list[int]:
        """Rows per stratum: in proportion to its real rows inside the slice, or, when no
        real row of the class is inside, to its size times its clauses' marginal shares."""
        if len(models) == 1:
            return [rows]
        weights = np.array([m.mass(b) if b is not None else 0 for m, b in zip(models, boxes)], dtype=float)
        if weights.sum() == 0:
            weights = np.array(
                [
                    m.n * np.prod([(i1 - i0) / m.n for i0, i1 in b.values()]) if b is not None else 0.0
                    for m, b in zip(models, boxes)
                ]
            )
        return list(rng.multinomial(rows, weights / weights.sum()))

    def _draw(self, label: int, boxes: list, rows: int, rng: np.random.Generator) -> pd.DataFrame:
        """Rows of one class inside the slice, shared among its strata (redraws for the
        business rules share again, so a stratum the rules cut deep is not stuck)."""
        models = self.models[label]
        counts = self._allocate(models, boxes, rows, rng)
        return pd.concat(
            [self._decode(m.sample(k, b, rng, self._smooth)) for m, b, k in zip(models, boxes, counts) if k > 0],
            ignore_index=True,
        )

    def sample_slice(self, request: SliceRequest, seed: int) -> pd.DataFrame:
        spot = request.blind_spot
        boxes = {
            label: [predicate_box(spot, self.columns, self.categories, m.sorted) for m in self.models[label]]
            for label in (0, 1)
        }
        possible = {label: any(b is not None for b in boxes[label]) for label in (0, 1)}
        if not any(possible.values()):
            raise impossible(spot)
        wanted = {1: request.positives, 0: request.rows - request.positives}
        for label in (0, 1):
            if not possible[label] and wanted[label] > 0:
                LOG.warning(
                    "blind spot %s: no real row of class %d in it; its %d rows go to the other class",
                    spot.id,
                    label,
                    wanted[label],
                )
                wanted[1 - label] += wanted[label]
                wanted[label] = 0
        parts = []
        for label in (1, 0):
            if wanted[label] > 0:
                rng = np.random.default_rng([seed, label])
                part = draw_with_rules(
                    lambda n, label=label, rng=rng: self._draw(label, boxes[label], n, rng),
                    wanted[label],
                    self.spec.rules,
                )
                part[self.spec.target] = float(label)
                parts.append(part)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
