"""Train and score the classifier, on real data for judging, always.

LightGBM with native categorical support (the default; `training.model: mlp` picks
the torch MLP in mlp.py instead): fast on 2 cores, strong on mixed tabular
data, and the model FINDINGS.md measured with. Class weights are balanced, so a
threshold of 0.5 sits at the prior-corrected decision point and cannot collapse
to 0.05 under drift the way an F1-tuned threshold did. Recency weights make the
newest labelled batches count more (the baseline R that synthesis must beat).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.core.base.spec import DatasetSpec
from factory.core.base.types import (
    BlindSpot,
    Comparison,
    ModelScores,
    SpotScores,
    union_mask,
)
from factory.core.learn.model import Classifier
from factory.core.measure.metrics import (
    metric_values,
    point_and_interval,
    resample_chunks,
    roc_auc,
)

MIN_INTERVAL_ROWS = 10  # fewer rows than this: a value, no interval


def _bootstrap(
    y: np.ndarray,
    p: np.ndarray,
    pred: np.ndarray,
    masks: dict[str, np.ndarray],
    rounds: int,
    seed: int,
    q: np.ndarray | None = None,
) -> dict[str, dict[str, tuple]]:
    """Each metric as (value, low, high) on each mask's rows, every mask read off the
    same resamples of all rows (taken in chunks, so memory stays bounded). None where
    undefined (no rows, a single class); no interval on fewer than MIN_INTERVAL_ROWS.
    `q` (calibrated probabilities) adds the Brier score on the first mask."""
    parts: dict[str, dict[str, list]] = {key: {} for key in masks}
    for w in resample_chunks(len(y), rounds, seed):
        for i, (key, m) in enumerate(masks.items()):
            if m.any():
                values = metric_values(y[m], p[m], pred[m], w[:, m], q[m] if q is not None and i == 0 else None)
                for name, v in values.items():
                    parts[key].setdefault(name, []).append(v)
    out = {}
    for key, m in masks.items():
        if not m.any():
            out[key] = dict.fromkeys(("auc", "pr_auc", "f1", "recall"), (None, None, None))
            continue
        out[key] = {name: point_and_interval(np.concatenate(v)) for name, v in parts[key].items()}
        if m.sum() < MIN_INTERVAL_ROWS:
            out[key] = {name: (v[0], None, None) for name, v in out[key].items()}
    return out


def _fields(metrics: dict[str, tuple], prefix: str = "") -> dict[str, float | None]:
    out = {}
    for name, (value, low, high) in metrics.items():
        out.update({f"{prefix}{name}": value, f"{prefix}{name}_low": low, f"{prefix}{name}_high": high})
    return out


def score_model(
    name: str,
    model: Classifier,
    labelled: pd.DataFrame,
    spec: DatasetSpec,
    blind_spots: list[BlindSpot] | tuple[BlindSpot, ...] = (),
    rounds: int = 200,
) -> ModelScores:
    """Metrics on real labelled rows: overall, on the union of the blind spots, and in
    each blind spot, every one with a bootstrap 95% interval (the same resamples for all).
    Threshold-free metrics (ROC AUC, PR AUC) decide; F1 and recall are reported."""
    y = labelled[spec.target].astype(int).to_numpy()
    p = model.predict_proba(labelled)
    pred = (p >= model.threshold).astype(int)
    q = model.calibrated(p) if len(y) else None
    inside = {i: spot.mask(labelled).to_numpy() for i, spot in enumerate(blind_spots)}
    union = np.logical_or.reduce(list(inside.values())) if inside else np.zeros(len(y), dtype=bool)
    masks = {"overall": np.ones(len(y), dtype=bool), "union": union, **inside}
    result = _bootstrap(y, p, pred, masks, rounds, seed=1, q=q)
    spots = tuple(
        SpotScores(
            spot.id,
            spot.metric if spot.kind == "error" else spot.kind,
            spot.predicate,
            rows=int(masks[i].sum()),
            positives=int(y[masks[i]].sum()),
            **_fields(result[i]),
        )
        for i, spot in enumerate(blind_spots)
    )
    return ModelScores(
        model=name,
        rows=len(labelled),
        bs_rows=int(masks["union"].sum()),
        spots=spots,
        **_fields(result["overall"]),
        **_fields(result["union"], prefix="bs_"),
    )


def compare_models(
    challenger: Classifier,
    champion: Classifier,
    labelled: pd.DataFrame,
    spec: DatasetSpec,
    blind_spots: list[BlindSpot] | tuple[BlindSpot, ...] = (),
    rounds: int = 300,
    seed: int = 0,
) -> Comparison:
    """Paired bootstrap of ROC AUC differences: both models scored on the same resamples,
    so the interval reflects the difference, not each model's own noise."""
    y = labelled[spec.target].astype(int).to_numpy()
    pa, pb = challenger.predict_proba(labelled), champion.predict_proba(labelled)
    inside = union_mask(labelled, blind_spots)
    overall, spots = [], []
    for w in resample_chunks(len(y), rounds, seed):
        overall.append(roc_auc(y, pa, w) - roc_auc(y, pb, w))
        spots.append(roc_auc(y[inside], pa[inside], w[:, inside]) - roc_auc(y[inside], pb[inside], w[:, inside]))
    spot_diff = point_and_interval(np.concatenate(spots)) if inside.any() else (None, None, None)
    return Comparison(len(y), int(inside.sum()), *point_and_interval(np.concatenate(overall)), *spot_diff)
