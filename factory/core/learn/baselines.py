"""Honest baselines, trained every cycle on the same real rows as the challenger:
what a careful team gets without the factory. The factory must beat these on real
future data, or say so.

- frozen: the first champion, never retrained;
- real_only: retrained on all labelled rows with class weights, no recency weights;
- recency: the same plus recency weights (FINDINGS.md's R, the bar to beat);
- last3, last6, last12: only the newest 3, 6 or 12 batches (fixed windows: with the two
  above, the fixed recipes the factory's per-cycle choice is compared with in hindsight);
- smote: SMOTE-NC oversampling of the minority class (imbalanced-learn), recency-weighted;
- untargeted: recency + as many synthetic rows as the challenger was offered, drawn
  from the same generator but not aimed at the blind spots.
"""

from __future__ import annotations

import pandas as pd

from factory.core.base.dataset import BATCH
from factory.core.base.spec import RECENCY, DatasetSpec, Recipe
from factory.core.learn.model import Classifier
from factory.core.learn.recipe import UNWEIGHTED, train_recipe

FIXED_RECIPES = (UNWEIGHTED, RECENCY, *(Recipe(name=f"last{n}", window=n) for n in (3, 6, 12)))
BASELINES = ("frozen", *(r.name for r in FIXED_RECIPES), "smote", "untargeted")
MISSING = "__missing__"


def smote_rows(train: pd.DataFrame, spec: DatasetSpec, seed: int = 0) -> pd.DataFrame:
    """The training rows plus SMOTE-NC interpolated minority rows (up to balance)."""
    from imblearn.over_sampling import SMOTENC

    features = list(spec.numeric) + list(spec.categorical)
    x = train[features].copy()
    medians = x[list(spec.numeric)].median()
    x[list(spec.numeric)] = x[list(spec.numeric)].fillna(medians)
    for col in spec.categorical:
        x[col] = x[col].fillna(MISSING).astype(str)
    y = train[spec.target].astype(int).to_numpy()
    sampler = SMOTENC(
        categorical_features=list(range(len(spec.numeric), len(features))), random_state=seed, k_neighbors=5
    )
    xs, ys = sampler.fit_resample(x, y)
    out = pd.DataFrame(xs, columns=features)
    for col in spec.categorical:
        out[col] = out[col].replace(MISSING, None)
    for col in spec.numeric:
        out[col] = out[col].astype(float)
    out[spec.target] = ys.astype(float)
    # original rows keep their batch (recency weights); new rows count as the newest batch
    out[BATCH] = list(train[BATCH]) + [train[BATCH].max()] * (len(out) - len(train))
    return out


def train_baselines(
    train: pd.DataFrame, spec: DatasetSpec, untargeted: pd.DataFrame, seed: int = 0
) -> dict[str, Classifier]:
    """Every baseline but `frozen` (which is loaded from the registry), on the same rows."""
    models = {r.name: train_recipe(train, spec, r, seed=seed) for r in FIXED_RECIPES}
    models["smote"] = train_recipe(smote_rows(train, spec, seed), spec, RECENCY, seed=seed)
    models["untargeted"] = (
        train_recipe(train, spec, RECENCY, synthetic=untargeted, seed=seed) if len(untargeted) else models["recency"]
    )
    return models
