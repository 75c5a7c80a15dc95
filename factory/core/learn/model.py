"""What every fitted classifier shares: a decision threshold and calibrated odds.

Models are trained with balanced class weights, so a threshold of 0.5 sits at the
prior-corrected decision point (an F1-tuned threshold collapsed to 0.05 under drift),
and their scores are not probabilities on the training prior until the odds are
scaled back by it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

THRESHOLD = 0.5


class Classifier:
    """A fitted binary classifier that scores a raw batch frame. Subclasses implement
    `predict_proba`; `prior` is the positive share the class weights removed."""

    threshold: float = THRESHOLD
    prior: float = 0.5

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Score of the positive label for each row (balanced classes)."""
        raise NotImplementedError

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(df) >= self.threshold).astype(int)

    def calibrated_proba(self, df: pd.DataFrame) -> np.ndarray:
        """P(positive) on the training prior: balanced class weights scale the odds by
        (1 - prior) / prior, so multiplying them back by prior / (1 - prior) undoes it."""
        p = np.clip(self.predict_proba(df), 1e-6, 1 - 1e-6)
        odds = p / (1 - p) * self.prior / (1 - self.prior)
        return odds / (1 + odds)
