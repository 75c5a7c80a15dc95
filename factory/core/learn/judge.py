"""Evaluation sets: the only code that splits labelled rows into what trains and what judges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory.core.base.dataset import BATCH, content_hash
from factory.core.base.plane import DataPlane


def split_holdout(batch: pd.DataFrame, share: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the newest labelled batch into (discovery, holdout). The holdout judges
    the gate only: it never finds blind spots, fits a generator or trains a model."""
    rng = np.random.default_rng(seed)
    is_holdout = rng.random(len(batch)) < share
    return batch[~is_holdout], batch[is_holdout]


@dataclass(frozen=True)
class LabelledSets:
    train: pd.DataFrame  # every labelled row except the holdout
    discovery: pd.DataFrame  # the newest labelled batch's discovery half
    holdout: pd.DataFrame  # the newest labelled batch's holdout half: the gate's judge
    newest: str


def labelled_sets(plane: DataPlane, batch_id: str) -> LabelledSets:
    labelled, newest = plane.labelled_window(batch_id)
    latest = labelled[labelled[BATCH] == newest]
    seed = int(content_hash(pd.DataFrame({"b": [newest]})), 16) % (2**32)
    discovery, holdout = split_holdout(latest, plane.spec.training.holdout_share, seed)
    train = labelled.drop(index=holdout.index)
    return LabelledSets(
        train.reset_index(drop=True), discovery.reset_index(drop=True), holdout.reset_index(drop=True), newest
    )


def initial_training(reference: pd.DataFrame) -> pd.DataFrame:
    """The first model's rows: the reference period minus its last batch, which becomes
    the first labelled batch the loop learns from."""
    return reference[reference[BATCH] < reference[BATCH].max()]
