"""Evaluation sets: the only code that splits labelled rows into what trains and what judges.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def split_holdout(batch: pd.DataFrame, share: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the newest labelled batch into (discovery, holdout). The holdout judges
    the gate only: it never finds blind spots, fits a generator or trains a model."""
    rng = np.random.default_rng(seed)
    is_holdout = rng.random(len(batch)) < share
    return batch[~is_holdout], batch[is_holdout]
