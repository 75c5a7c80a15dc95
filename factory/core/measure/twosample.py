"""One classifier two-sample test: can a gradient-boosted model tell two sets of rows
apart? Cross-validated ROC AUC, 0.5 when it cannot. Drift uses it on reference vs batch
(multivariate drift no single column shows), the synthetic gate and the generator
choice on real vs synthetic rows (the discriminator); the gate's blind spots share one
classifier (sliced_two_sample_auc)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.core.base.dataset import sample_rows
from factory.core.base.spec import DatasetSpec

MAX_CODES = 250  # categories per column kept apart; the rest pool into one code
MIN_ROWS = 10


def model_frame(
    frames: list[pd.DataFrame], numeric: tuple[str, ...] | list[str], categorical: tuple[str, ...] | list[str]
) -> list[pd.DataFrame]:
    """Numeric columns as floats, categoricals as shared pandas categories (the most
    frequent MAX_CODES of the first frame, the rest pooled), for a tree model."""
    out = [pd.DataFrame(index=f.index) for f in frames]
    for col in numeric:
        for o, f in zip(out, frames):
            o[col] = pd.to_numeric(f[col], errors="coerce").astype(float)
    for col in categorical:
        keep = list(frames[0][col].dropna().astype(str).value_counts().index[:MAX_CODES])
        for o, f in zip(out, frames):
            values = f[col].astype(str).where(f[col].notna(), None)
            o[col] = pd.Categorical(
                values.where(values.isin(keep) | values.isna(), "__other__"), categories=keep + ["__other__"]
            )
    return out


def two_sample_auc(
    first: pd.DataFrame,
    second: pd.DataFrame,
    numeric: tuple[str, ...] | list[str],
    categorical: tuple[str, ...] | list[str],
    rows: int | None = None,
    seed: int = 0,
    top: int = 0,
) -> tuple[float | None, tuple[str, ...]]:
    """ROC AUC (3-fold cross-validated) of LightGBM telling `first` from `second`, on
    equal-size samples of at most `rows` each; with `top`, the features with the largest
    share of split gain ("name (share)"). (None, ()) with fewer than MIN_ROWS a side."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n = min(len(first), len(second), rows or max(len(first), len(second)))
    if n < MIN_ROWS:
        return None, ()
    a, b = model_frame([sample_rows(first, n, seed), sample_rows(second, n, seed)], numeric, categorical)
    x = pd.concat([a, b], ignore_index=True)
    for col in categorical:  # keep the shared categories whatever concat does
        x[col] = pd.Categorical(x[col], categories=a[col].cat.categories)
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    clf = _classifier(seed)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    auc = float(roc_auc_score(y, cross_val_predict(clf, x, y, cv=folds, method="predict_proba")[:, 1]))
    if not top:
        return auc, ()
    gain = pd.Series(clf.fit(x, y).feature_importances_, index=x.columns)
    gain = (gain / gain.sum()).sort_values(ascending=False).head(top) if gain.sum() > 0 else gain.head(0)
    return auc, tuple(f"{c} ({g:.0%})" for c, g in gain.items() if g > 0)


def sliced_two_sample_auc(
    slices: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    numeric: tuple[str, ...] | list[str],
    categorical: tuple[str, ...] | list[str],
    rows: int,
    seed: int = 0,
) -> dict[str, float | None]:
    """Per slice, the ROC AUC of telling its `first` rows from its `second` rows, from one
    classifier over every slice's equal-size samples (at most `rows` a side), 3-fold
    cross-validated: one fit, not one a slice. Equal rows (one row in two slices, or a
    booking twice) keep to one fold, so no fold is judged on a row it trained on. None for
    a slice under MIN_ROWS a side."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import PredefinedSplit, cross_val_predict

    parts, names, sides = [], [], []
    out: dict[str, float | None] = {}
    for name, (first, second) in slices.items():
        n = min(len(first), len(second), rows)
        out[name] = None
        if n < MIN_ROWS:
            continue
        for side, frame in enumerate((first, second)):
            part = sample_rows(frame, n, seed)
            parts.append(part)
            names += [name] * n
            sides += [side] * n
    if not parts:
        return out
    stacked = pd.concat(parts, ignore_index=True)
    # one frame, so the categories kept apart are the most frequent of every slice together
    x = model_frame([stacked], numeric, categorical)[0]
    y, names = np.asarray(sides), np.asarray(names)
    groups, distinct = pd.factorize(pd.util.hash_pandas_object(stacked[[*numeric, *categorical]], index=False))
    fold_of = np.random.default_rng(seed).permutation(len(distinct)) % 3  # equal rows share one of 3 folds
    folds = PredefinedSplit(fold_of[groups])
    scores = cross_val_predict(_classifier(seed), x, y, cv=folds, method="predict_proba")[:, 1]
    for name in pd.unique(names):
        at = names == name
        out[str(name)] = float(roc_auc_score(y[at], scores[at]))
    return out


def _classifier(seed: int):
    """50 trees at 0.2 rather than 100 at 0.1: on the 14 hotel batches the domain classifier's
    ROC AUC (0.92-0.99) came within 0.003, in 0.34 s a batch instead of 0.55; the gate's shared
    discriminator over the hotel replay's 192 blind spots read a mean 0.852 instead of 0.855,
    in 6.8 s instead of 11.5 (benchmarks/discriminator.py)."""
    import lightgbm as lgb

    return lgb.LGBMClassifier(
        n_estimators=50, learning_rate=0.2, num_leaves=31, n_jobs=1, random_state=seed, verbose=-1,
        importance_type="gain",
    )  # fmt: skip


def discriminator_auc(real: pd.DataFrame, synthetic: pd.DataFrame, spec: DatasetSpec, seed: int = 0) -> float:
    """Real rows (label included) against synthetic ones: 0.5 is ideal."""
    auc, _ = two_sample_auc(real, synthetic, *discriminator_columns(spec), seed=seed)
    return auc if auc is not None else float("nan")


def discriminator_columns(spec: DatasetSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(numeric, categorical) a discriminator sees: the features and the label."""
    return (*spec.numeric, spec.target), tuple(spec.categorical)
