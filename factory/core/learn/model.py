"""What every fitted classifier shares: a decision threshold and calibrated odds.

Models are trained with balanced class weights, so a threshold of 0.5 sits at the
prior-corrected decision point (an F1-tuned threshold collapsed to 0.05 under drift),
and their scores are not probabilities on the training prior until the odds are
scaled back by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from factory.core.base import codec

THRESHOLD = 0.5
MANIFEST = "classifier.json"  # beside the family's own weights file in a saved model's directory


class Classifier:
    """A fitted binary classifier that scores a raw batch frame. Subclasses implement
    `predict_proba`; `prior` is the positive share the class weights removed."""

    threshold: float = THRESHOLD
    prior: float = 0.5
    kind: ClassVar[str] = ""  # the family's name in a saved model's manifest
    modules: ClassVar[tuple[str, ...]] = ("numpy", "pandas", "yaml")  # what a loaded model imports

    def save(self, directory: str | Path) -> None:
        """Write the fitted model as plain files, no pickle: a JSON manifest (write_manifest)
        and the family's own weights format. `load` reads them back."""
        raise NotImplementedError

    @classmethod
    def load(cls, directory: str | Path) -> "Classifier":
        """The model `save` wrote: it predicts exactly what the fitted one did."""
        raise NotImplementedError

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Score of the positive label for each row (balanced classes)."""
        raise NotImplementedError

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(df) >= self.threshold).astype(int)

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """P(positive) on the training prior from this model's scores: balanced class weights
        scale the odds by (1 - prior) / prior, so multiplying them back by prior / (1 - prior)
        undoes it. (From scores already computed: scoring a frame twice costs a prediction.)"""
        p = np.clip(scores, 1e-6, 1 - 1e-6)
        odds = p / (1 - p) * self.prior / (1 - self.prior)
        return odds / (1 + odds)


def write_manifest(directory: str | Path, kind: str, **fields) -> Path:
    """The saved model's plain values (versioned JSON); returns the directory."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / MANIFEST).write_bytes(codec.dumps(dict(fields, kind=kind)))
    return path


def read_manifest(directory: str | Path) -> dict:
    return codec.loads((Path(directory) / MANIFEST).read_bytes(), dict)
