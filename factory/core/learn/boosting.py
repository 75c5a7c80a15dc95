"""The default classifier: LightGBM with native categorical support (fast on 2 cores,
strong on mixed tabular data, and the model FINDINGS.md measured with)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from factory.core.base.spec import TrainingSettings
from factory.core.learn.model import THRESHOLD, Classifier, read_manifest, write_manifest

BOOSTER = "booster.txt"  # LightGBM's own text model format


@dataclass
class FactoryModel(Classifier):
    """A fitted classifier plus what it needs to score a raw batch frame."""

    booster: object  # a lightgbm.Booster: the fitted model and, saved, its text model file
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, list[str]]
    threshold: float = THRESHOLD
    prior: float = 0.5  # positive share the class weights removed; restores calibrated odds

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        x = pd.DataFrame(index=df.index)
        for c in self.numeric:
            x[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        for c in self.categorical:
            x[c] = pd.Categorical(df[c], categories=self.categories[c])
        return x

    kind = "lightgbm"
    modules = Classifier.modules + ("lightgbm",)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Probability of the positive label for each row."""
        return self.booster.predict(self.frame(df))

    def save(self, directory: str | Path) -> None:
        path = write_manifest(
            directory,
            self.kind,
            numeric=self.numeric,
            categorical=self.categorical,
            categories=self.categories,
            threshold=self.threshold,
            prior=self.prior,
        )
        self.booster.save_model(path / BOOSTER)

    @classmethod
    def load(cls, directory: str | Path) -> "FactoryModel":
        import lightgbm as lgb

        fields = read_manifest(directory)
        fields.pop("kind")
        return cls(lgb.Booster(model_file=Path(directory) / BOOSTER), **fields)


def fit_lightgbm(
    data: pd.DataFrame,
    y: np.ndarray,
    weights: np.ndarray,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    categories: dict[str, list[str]],
    prior: float,
    settings: TrainingSettings,
    seed: int = 0,
) -> FactoryModel:
    """Gradient-boosted trees on the weighted rows (class weights already applied)."""
    import lightgbm as lgb

    model = FactoryModel(None, numeric, categorical, categories, prior=prior)
    booster = lgb.LGBMClassifier(
        n_estimators=settings.n_estimators,
        learning_rate=settings.learning_rate,
        num_leaves=31,
        min_child_samples=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=2,
        verbose=-1,
    )
    booster.fit(model.frame(data), y, sample_weight=weights)
    model.booster = booster.booster_  # the same trees the sklearn wrapper scores with, and what is saved
    return model
