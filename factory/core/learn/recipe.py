"""How a model is trained: which rows (a window of the newest batches), with which weights
(recency, class), on which family (LightGBM by default; `training.model: mlp` picks the
torch MLP). A recipe is data (base.spec.Recipe): the judge scores every candidate recipe
on its honest holdout each cycle, and the baselines are fixed recipes served every cycle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from factory.core.base.dataset import BATCH
from factory.core.base.spec import DatasetSpec, Recipe
from factory.core.learn.boosting import FactoryModel, fit_lightgbm
from factory.core.learn.mlp import TorchTabularModel, train_mlp
from factory.core.learn.model import Classifier, read_manifest

FAMILIES = {family.kind: family for family in (FactoryModel, TorchTabularModel)}
UNWEIGHTED = Recipe(name="real_only")  # all labelled rows, no recency weights (a baseline)


def window_rows(real: pd.DataFrame, recipe: Recipe) -> pd.DataFrame:
    """The rows of the newest `recipe.window` batches (all rows without a window)."""
    if recipe.window is None:
        return real
    newest = sorted(real[BATCH].unique())[-recipe.window :]
    return real[real[BATCH].isin(newest)]


def recency_weights(df: pd.DataFrame, recipe: Recipe) -> np.ndarray:
    """recency_weight for rows of the newest `recency_batches` batches, 1 elsewhere."""
    batches = sorted(df[BATCH].unique())
    recent = set(batches[-recipe.recency_batches :]) if recipe.recency_batches else set()
    return np.where(df[BATCH].isin(recent), recipe.recency_weight, 1.0)


def train_recipe(
    real: pd.DataFrame,
    spec: DatasetSpec,
    recipe: Recipe,
    synthetic: pd.DataFrame | None = None,
    seed: int = 0,
) -> Classifier:
    """Fit on the recipe's real rows (and weights) plus optional synthetic rows."""
    real = window_rows(real, recipe)
    frames, weights = [real], [recency_weights(real, recipe)]
    if synthetic is not None and len(synthetic):
        frames.append(synthetic)
        weights.append(np.full(len(synthetic), spec.training.synthetic_weight))
    data = pd.concat(frames, ignore_index=True)
    w = np.concatenate(weights)
    y = data[spec.target].astype(int).to_numpy()
    categories = {c: sorted(real[c].dropna().astype(str).unique()) for c in spec.categorical}
    positive_share = float(np.average(y, weights=w))
    if recipe.class_weight == "balanced":
        w = w * np.where(y == 1, 0.5 / positive_share, 0.5 / (1 - positive_share))
    prior = positive_share if recipe.class_weight == "balanced" else 0.5  # the odds the weights removed
    if spec.training.model == "mlp":
        return train_mlp(data, y, w, spec.numeric, spec.categorical, prior, seed=seed)
    return fit_lightgbm(data, y, w, spec.numeric, spec.categorical, categories, prior, spec.training, seed)


def train_model(
    real: pd.DataFrame,
    spec: DatasetSpec,
    synthetic: pd.DataFrame | None = None,
    seed: int = 0,
    recency: bool = True,
) -> Classifier:
    """Fit with the spec's default recipe (its first), or on all rows unweighted."""
    return train_recipe(real, spec, spec.training.recipes[0] if recency else UNWEIGHTED, synthetic, seed)


def load_classifier(directory: str | Path) -> Classifier:
    """A model `Classifier.save` wrote, of whichever family its manifest names."""
    return FAMILIES[read_manifest(directory)["kind"]].load(directory)
