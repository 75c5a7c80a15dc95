"""How a model is trained: which rows, with which weights, on which family.

Class weights are balanced (see learn.model). Recency weights make the newest labelled
batches count more: FINDINGS.md's R, the real-data recipe synthesis must beat.
LightGBM by default; `training.model: mlp` picks the torch MLP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from factory.core.base.dataset import BATCH
from factory.core.base.spec import DatasetSpec
from factory.core.learn.boosting import FactoryModel, fit_lightgbm
from factory.core.learn.mlp import TorchTabularModel, train_mlp
from factory.core.learn.model import Classifier, read_manifest

FAMILIES = {family.kind: family for family in (FactoryModel, TorchTabularModel)}


def recency_weights(df: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """recency_weight for rows of the newest `recency_batches` batches, 1 elsewhere."""
    batches = sorted(df[BATCH].unique())
    recent = set(batches[-spec.training.recency_batches :]) if spec.training.recency_batches else set()
    return np.where(df[BATCH].isin(recent), spec.training.recency_weight, 1.0)


def train_model(
    real: pd.DataFrame,
    spec: DatasetSpec,
    synthetic: pd.DataFrame | None = None,
    seed: int = 0,
    recency: bool = True,
) -> Classifier:
    """Fit on real rows (recency-weighted) plus optional synthetic rows."""
    frames, weights = [real], [recency_weights(real, spec) if recency else np.ones(len(real))]
    if synthetic is not None and len(synthetic):
        frames.append(synthetic)
        weights.append(np.full(len(synthetic), spec.training.synthetic_weight))
    data = pd.concat(frames, ignore_index=True)
    w = np.concatenate(weights)
    y = data[spec.target].astype(int).to_numpy()
    categories = {c: sorted(real[c].dropna().astype(str).unique()) for c in spec.categorical}
    positive_share = float(np.average(y, weights=w))
    class_w = np.where(y == 1, 0.5 / positive_share, 0.5 / (1 - positive_share))
    if spec.training.model == "mlp":
        return train_mlp(data, y, w * class_w, spec.numeric, spec.categorical, positive_share, seed=seed)
    return fit_lightgbm(
        data, y, w * class_w, spec.numeric, spec.categorical, categories, positive_share, spec.training, seed
    )


def load_classifier(directory: str | Path) -> Classifier:
    """A model `Classifier.save` wrote, of whichever family its manifest names."""
    return FAMILIES[read_manifest(directory)["kind"]].load(directory)
