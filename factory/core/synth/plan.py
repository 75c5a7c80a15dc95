"""The generation plan: which slice gets how many rows and which label mix, and why."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from factory.core.base.spec import DatasetSpec
from factory.core.base.types import BlindSpot

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class SliceRequest:
    blind_spot: BlindSpot
    rows: int
    positives: int
    want: int = 0  # rows the slice asked for, before the caps
    why: str = ""  # how it got its rows, or why it got none


@dataclass(frozen=True)
class GenerationPlan:
    """Rows per slice and their label mix, with the caps that shaped them. Every blind
    spot is listed, planned or skipped, so the plan says why each got what it got."""

    slices: tuple[SliceRequest, ...]
    real_rows: int  # real training rows the shares are taken of
    budget: int  # at most this many rows in total
    slice_cap: int  # at most this many rows per slice
    reason: str = ""  # why nothing is planned (empty when something is)

    @property
    def requests(self) -> list[SliceRequest]:
        return [r for r in self.slices if r.rows > 0]

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.slices)

    def table(self) -> list[dict]:
        return [
            dict(
                blind_spot_id=r.blind_spot.id,
                predicate=r.blind_spot.predicate,
                kind=r.blind_spot.kind,
                want=r.want,
                rows=r.rows,
                positives=r.positives,
                why=r.why,
            )
            for r in self.slices
        ]

    def as_dict(self) -> dict:
        return dict(
            real_rows=self.real_rows,
            budget=self.budget,
            slice_cap=self.slice_cap,
            rows=self.rows,
            planned=len(self.requests),
            skipped=len(self.slices) - len(self.requests),
            reason=self.reason,
            slices=self.table(),
        )


def wanted_rows(spot: BlindSpot) -> int:
    """A coverage gap wants the training rows it lacks (its deficit). An error slice
    (or a low-confidence region) wants support x (lift - 1): its excess errors over
    the overall rate, counted in rows (excess errors / overall error rate)."""
    if spot.kind == "coverage":
        return max(int(spot.deficit), 0)
    want = spot.support * (spot.lift - 1.0)
    return int(round(want)) if np.isfinite(want) and want > 0 else 0


def plan_generation(
    blind_spots: list[BlindSpot] | tuple[BlindSpot, ...], real_rows: int, spec: DatasetSpec
) -> GenerationPlan:
    """Each slice's want (wanted_rows), capped per slice (max_rows_per_slice, max_slice_share
    x real rows), then scaled down together when they exceed the budget (synthetic_share
    x real rows, and max_rows). Label mix: spec positive_share, else the slice's own."""
    s = spec.synthesis
    budget = (
        int(s.synthetic_share * real_rows)
        if s.max_rows is None
        else min(int(s.synthetic_share * real_rows), s.max_rows)
    )
    cap = min(s.max_rows_per_slice, int(s.max_slice_share * real_rows))
    if not blind_spots:
        return GenerationPlan((), real_rows, budget, cap, "no blind spots to target")
    null = [any(c.op == "is_null" for c in b.conditions) for b in blind_spots]
    wants = [0 if skip else wanted_rows(b) for b, skip in zip(blind_spots, null)]
    capped = [min(w, cap) for w in wants]
    scale = min(1.0, max(budget, 0) / sum(capped)) if sum(capped) else 1.0
    slices = []
    for b, skip, want, kept in zip(blind_spots, null, wants, capped):
        rows = int(np.floor(kept * scale))
        if skip:
            why = "skipped: an IS NULL clause (missing values are not synthesised)"
        elif want == 0:
            why = "skipped: wants no rows (no deficit, no excess errors)"
        else:
            why = f"wants {want} ({'its deficit' if b.kind == 'coverage' else 'support x (lift - 1)'})" + (
                f", capped at {cap} per slice" if want > cap else ""
            )
            why += f", scaled by {scale:.2f} to the budget of {budget}" if scale < 1 else ""
            why += ": rounds to 0 rows" if rows == 0 else ""
        share = b.positive_share if s.positive_share is None else s.positive_share
        slices.append(SliceRequest(b, rows, int(round(rows * share)), want, why))
    plan = GenerationPlan(tuple(slices), real_rows, budget, cap)
    if plan.requests:
        return plan
    if budget <= 0:
        share = f"synthetic_share {s.synthetic_share:g} x {real_rows} real rows"
        reason = f"the budget is 0 rows ({share}, max_rows {s.max_rows})"
    elif cap <= 0:
        reason = (
            f"the per-slice cap is 0 rows (max_slice_share {s.max_slice_share:g} x {real_rows} real rows, "
            f"max_rows_per_slice {s.max_rows_per_slice})"
        )
    else:
        reason = "no slice got rows: see each slice's why"
    return dataclasses.replace(plan, reason=reason)


def everywhere(real: pd.DataFrame, spec: DatasetSpec, rows: int) -> SliceRequest:
    """An unconditioned request at the real class mix."""
    share = float(real[spec.target].mean())
    spot = BlindSpot(
        conditions=(),
        kind="untargeted",
        support=len(real),
        errors=0,
        error_rate=0.0,
        error_low=0.0,
        error_high=0.0,
        overall_error=0.0,
        lift=1.0,
        p_value=1.0,
        positive_share=share,
    )
    return SliceRequest(spot, rows, int(round(rows * share)))
