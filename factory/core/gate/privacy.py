"""Privacy attacks on a synthetic batch: singling out, linkability and inference, after
anonymeter's method (Giomi et al. 2022, "A Unified Framework for Quantifying Privacy
Risk in Synthetic Data").

Each attack runs three times: against the training rows (what the generator saw),
against a real control set the generator never saw (the holdout, sampled to the same
size) and as a random baseline. The risk is the excess over the control,
(training rate - control rate) / (1 - control rate), with Wilson intervals propagated
as anonymeter does. An attack that does no better than its random baseline proves
nothing either way: its verdict is "inconclusive", never a pass.

Hand-written rather than imported: anonymeter 1.1.0 pins numpy<1.27 and pyarrow<22,
so it installs next to numpy 2.4 only with --no-deps (a broken `pip check`, an install
step the lock file cannot express), and it pulls numba, llvmlite and polars.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from math import sqrt

import numpy as np
import pandas as pd

from factory.core.base.spec import DatasetSpec
from factory.core.measure.twosample import MAX_CODES

Z95 = 1.959964
ATTACKS = ("singling_out_univariate", "singling_out_multivariate", "linkability", "inference")
SETTING = {
    "singling_out_univariate": "max_singling_out_risk",
    "singling_out_multivariate": "max_singling_out_risk",
    "linkability": "max_linkability_risk",
    "inference": "max_inference_risk",
}


@dataclass(frozen=True)
class AttackResult:
    attack: str
    n_attacks: int
    attack_rate: float  # Wilson point estimates
    control_rate: float
    baseline_rate: float
    risk: float  # excess over the control, clipped to [0, 1]
    risk_low: float  # 95% interval
    risk_high: float
    verdict: str  # "pass" | "fail" (risk_low above the threshold) | "inconclusive" (attack no better than random)


def _wilson(successes: float, n: int) -> tuple[float, float]:
    """Wilson score estimate and half-width (anonymeter's success_rate)."""
    z2 = Z95 * Z95
    rate = (successes + 0.5 * z2) / (n + z2)
    error = Z95 / (n + z2) * sqrt(successes * (n - successes) / n + 0.25 * z2)
    return rate, error


def attack_result(
    name: str, n: int, successes: int, control: int, baseline: int, threshold: float | None
) -> AttackResult:
    """Rates, residual risk with its propagated error, and the verdict."""
    (a, da), (c, dc), (b, _) = _wilson(successes, n), _wilson(control, n), _wilson(baseline, n)
    risk = (a - c) / (1 - c)
    error = sqrt((da / abs(1 - c)) ** 2 + (dc * (a - 1) / (1 - c) ** 2) ** 2)
    clip = lambda v: float(min(max(v, 0.0), 1.0))  # noqa: E731
    low, high = clip(risk - error), clip(risk + error)
    verdict = "inconclusive" if a <= b else "fail" if threshold is not None and low > threshold else "pass"
    return AttackResult(name, n, float(a), float(c), float(b), clip(risk), low, high, verdict)


# -- encoding: one float matrix for queries, Gower-like coordinates for distances ----


def _codes(frames: list[pd.DataFrame], columns: list[str], categorical: set[str]) -> list[np.ndarray]:
    """Numbers as floats, categories as shared integer codes; missing is NaN."""
    out = [np.empty((len(f), len(columns))) for f in frames]
    for j, col in enumerate(columns):
        if col in categorical:
            values = pd.concat([f[col] for f in frames]).dropna().astype(str).unique()
            codes = {v: float(i) for i, v in enumerate(values)}
            for o, f in zip(out, frames):
                o[:, j] = f[col].astype(str).where(f[col].notna(), None).map(codes).astype(float).to_numpy()
        else:
            for o, f in zip(out, frames):
                o[:, j] = pd.to_numeric(f[col], errors="coerce").astype(float).to_numpy()
    return out


def coordinates(
    frames: list[pd.DataFrame], numeric: list[str] | tuple[str, ...], categorical: list[str] | tuple[str, ...]
) -> list[np.ndarray]:
    """Gower-like coordinates: numeric columns scaled to [0, 1] by the first frame's
    range (a missing value is its own coordinate), categoricals one-hot scaled so two
    different categories are 1 apart (squared). Euclidean distance: BLAS-fast."""
    parts: list[list[np.ndarray]] = [[] for _ in frames]
    for col in numeric:
        ref = pd.to_numeric(frames[0][col], errors="coerce").astype(float)
        lo, span = ref.min(), (ref.max() - ref.min()) or 1.0
        for p, f in zip(parts, frames):
            v = (pd.to_numeric(f[col], errors="coerce").astype(float).to_numpy() - lo) / span
            p.append(np.nan_to_num(v, nan=0.0)[:, None])
            p.append(np.isnan(v)[:, None].astype(float))
    for col in categorical:
        keep = list(frames[0][col].dropna().astype(str).value_counts().index[:MAX_CODES])
        for p, f in zip(parts, frames):
            values = f[col].astype(str).where(f[col].notna(), "<NA>").to_numpy()
            p.append((values[:, None] == np.array(keep + ["<NA>"], dtype=object)[None, :]).astype(float) / np.sqrt(2))
    return [np.hstack(p) if p else np.zeros((len(f), 0)) for p, f in zip(parts, frames)]


def _nearest(synthetic: np.ndarray, targets: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=1).fit(synthetic).kneighbors(targets, return_distance=False)[:, 0]


# -- singling out -----------------------------------------------------------------

Query = tuple[tuple[int, str, float], ...]  # AND of (column, op, value); "null" and "notnull" ignore the value

OPS = {"==": np.equal, "!=": np.not_equal, "<=": np.less_equal, ">=": np.greater_equal, "<": np.less, ">": np.greater}


def _matches(x: np.ndarray, query: Query) -> int:
    """Rows a query matches (a comparison never matches a missing value, as in SQL)."""
    mask = np.ones(len(x), dtype=bool)
    for j, op, value in query:
        col = x[:, j]
        if op in ("null", "notnull"):
            mask &= np.isnan(col) == (op == "null")
        else:
            mask &= OPS[op](col, value) & ~np.isnan(col)
    return int(mask.sum())


def _univariate_queries(s: np.ndarray, numeric: np.ndarray, n: int, rng: np.random.Generator) -> list[Query]:
    """Rare attributes of the synthetic rows: a lone missing value, the extremes of
    numeric columns, values seen once; those that single out one synthetic row."""
    candidates: list[Query] = []
    for j in range(s.shape[1]):
        col = s[:, j]
        present = col[~np.isnan(col)]
        if np.isnan(col).sum() == 1:
            candidates.append(((j, "null", 0.0),))
        if numeric[j] and len(present):
            candidates += [((j, "<=", float(present.min())),), ((j, ">=", float(present.max())),)]
        values, counts = np.unique(present, return_counts=True)
        candidates += [((j, "==", float(v)),) for v in values[counts == 1]]
    found: dict[Query, None] = {}
    for i in rng.permutation(len(candidates)):
        if len(found) >= n:
            break
        if candidates[i] not in found and _matches(s, candidates[i]) == 1:
            found[candidates[i]] = None
    return list(found)


def _multivariate_queries(
    s: np.ndarray, numeric: np.ndarray, n: int, n_cols: int, rng: np.random.Generator, max_attempts: int
) -> list[Query]:
    """Queries built from a random synthetic record's values on `n_cols` random columns
    (numeric: >= the value above the median, <= below), kept when they single it out."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column has no median
        medians = np.nanmedian(s, axis=0)
    found: dict[Query, None] = {}
    for _ in range(max_attempts):
        if len(found) >= n:
            break
        row = s[rng.integers(len(s))]
        cols = sorted(rng.choice(s.shape[1], size=min(n_cols, s.shape[1]), replace=False))
        query = tuple(
            (
                int(j),
                "null" if np.isnan(row[j]) else (">=" if row[j] > medians[j] else "<=") if numeric[j] else "==",
                0.0 if np.isnan(row[j]) else float(row[j]),
            )
            for j in cols
        )
        if query not in found and _matches(s, query) == 1:
            found[query] = None
    return list(found)


def _random_queries(s: np.ndarray, numeric: np.ndarray, n: int, n_cols: int, rng: np.random.Generator) -> list[Query]:
    """The baseline attacker: random values of the synthetic columns, random operators."""
    uniques = [np.unique(s[:, j]) for j in range(s.shape[1])]  # a missing value, if any, is one of them
    queries = []
    for _ in range(n):
        clauses = []
        for j in sorted(rng.choice(s.shape[1], size=min(n_cols, s.shape[1]), replace=False)):
            value = float(rng.choice(uniques[j]))
            op = str(rng.choice(list(OPS) if numeric[j] else ["==", "!="]))
            if np.isnan(value):
                op = "null" if op == "==" else "notnull"
            clauses.append((int(j), op, 0.0 if np.isnan(value) else value))
        queries.append(tuple(clauses))
    return queries


def singling_out(
    train: np.ndarray,
    control: np.ndarray,
    synthetic: np.ndarray,
    numeric: np.ndarray,
    n_attacks: int,
    mode: str,
    rng: np.random.Generator,
) -> tuple[int, int, int]:
    """(training, control, baseline) successes: queries found on the synthetic rows
    that match exactly one row. Training and control hold the same number of rows."""
    n_cols = 1 if mode == "univariate" else 3
    if mode == "univariate":
        queries = _univariate_queries(synthetic, numeric, n_attacks, rng)
    else:
        queries = _multivariate_queries(synthetic, numeric, n_attacks, n_cols, rng, max_attempts=10 * n_attacks)
    lone = lambda x, qs: sum(_matches(x, q) == 1 for q in qs)  # noqa: E731
    return (
        lone(train, queries),
        lone(control, queries),
        lone(train, _random_queries(synthetic, numeric, n_attacks, n_cols, rng)),
    )


# -- linkability and inference ------------------------------------------------------


def linkability(
    train: pd.DataFrame,
    control: pd.DataFrame,
    synthetic: pd.DataFrame,
    halves: tuple[list[str], list[str]],
    categorical: set[str],
    n_attacks: int,
    rng: np.random.Generator,
) -> tuple[int, int, int]:
    """A target is linked when the nearest synthetic row on one half of its columns is
    also the nearest on the other half. Baseline: two random synthetic rows agree."""

    def links(target: pd.DataFrame) -> int:
        same = None
        for half in halves:
            num, cat = [c for c in half if c not in categorical], [c for c in half if c in categorical]
            s, t = coordinates([synthetic, target], num, cat)
            idx = _nearest(s, t)
            same = idx if same is None else same == idx
        return int(np.sum(same))

    baseline = int(np.sum(rng.integers(len(synthetic), size=n_attacks) == rng.integers(len(synthetic), size=n_attacks)))
    return links(train), links(control), baseline


def inference(
    train: pd.DataFrame,
    control: pd.DataFrame,
    synthetic: pd.DataFrame,
    secret: str,
    aux: list[str],
    categorical: set[str],
    rng: np.random.Generator,
) -> tuple[int, int, int]:
    """Guess each target's secret as its nearest synthetic row's (on the other columns);
    a numeric secret is guessed when within 5% (anonymeter's tolerance). Baseline: a
    random synthetic row's secret."""

    def hits(guess: pd.Series, truth: pd.Series) -> int:
        g, t = guess.to_numpy(), truth.to_numpy()
        both_missing = pd.isna(g) & pd.isna(t)
        if secret in categorical:
            same = pd.Series(g).astype(str).to_numpy() == pd.Series(t).astype(str).to_numpy()
        else:
            g, t = g.astype(float), t.astype(float)
            same = np.abs(g - t) <= 0.05 * np.abs(g) + 1e-12
        return int(np.sum((same & ~pd.isna(g) & ~pd.isna(t)) | both_missing))

    num, cat = [c for c in aux if c not in categorical], [c for c in aux if c in categorical]
    s, t, c = coordinates([synthetic, train, control], num, cat)
    values = synthetic[secret].reset_index(drop=True)
    random = values.iloc[rng.integers(len(synthetic), size=len(train))]
    return (
        hits(values.iloc[_nearest(s, t)], train[secret]),
        hits(values.iloc[_nearest(s, c)], control[secret]),
        hits(random, train[secret]),
    )


def run_attacks(
    train: pd.DataFrame, control: pd.DataFrame, synthetic: pd.DataFrame, spec: DatasetSpec, seed: int = 0
) -> tuple[AttackResult, ...]:
    """Every attack with `spec.gate.privacy_attacks` queries or targets (fewer when a
    side is smaller). Training and control rows are sampled to the same size, as the
    method requires; singling out counts distinct records (duplicates dropped, as
    anonymeter does), so a booking repeated in the data cannot be singled out."""
    g = spec.gate
    m = min(len(train), len(control))
    n = min(m, len(synthetic), g.privacy_attacks)
    if n < 2:
        return ()
    columns = list(spec.features) + [spec.target]
    tr = train.sample(m, random_state=seed).reset_index(drop=True)
    co = control.sample(m, random_state=seed + 1).reset_index(drop=True)
    syn = synthetic.reset_index(drop=True)
    categorical = set(spec.categorical) | {spec.target}
    rng = np.random.default_rng(seed)
    out = []
    distinct = [f[columns].drop_duplicates() for f in (tr, co, syn)]
    k = min(len(distinct[0]), len(distinct[1]))
    x_tr, x_co, x_syn = _codes([distinct[0].head(k), distinct[1].head(k), distinct[2]], columns, categorical)
    numeric = np.array([c not in categorical for c in columns])
    for mode in ("univariate", "multivariate"):
        name = f"singling_out_{mode}"
        out.append(
            attack_result(name, n, *singling_out(x_tr, x_co, x_syn, numeric, n, mode, rng), getattr(g, SETTING[name]))
        )
    halves = (columns[0::2], columns[1::2])
    targets_tr, targets_co = tr.head(n), co.head(n)
    out.append(
        attack_result(
            "linkability",
            n,
            *linkability(targets_tr, targets_co, syn, halves, categorical, n, rng),
            g.max_linkability_risk,
        )
    )
    secret = g.inference_secret or spec.target
    aux = [c for c in columns if c != secret]
    out.append(
        attack_result(
            "inference", n, *inference(targets_tr, targets_co, syn, secret, aux, categorical, rng), g.max_inference_risk
        )
    )
    return tuple(out)
