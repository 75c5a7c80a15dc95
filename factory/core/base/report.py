"""The flywheel report: one HTML page per cycle that shows how the loop has done so far.

Each cycle leaves a small JSON record (the plane's cycle records); the page is rebuilt
from all records up to the batch, so it plots every cycle seen:
overall and blind-spot ROC AUC of the champion, the challenger and each baseline
(on the holdout that judged the gate, and the backtest on the batch itself), the
drift share, the synthetic share of the training rows, and the promotions.
Plotly draws it; plotly.js is inlined so the page opens offline.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pandas as pd
import plotly.colors as pc
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from factory.core.base.types import ModelScores, plain

METRICS = ("auc", "bs_auc")


def cycle_record(
    batch_id: str,
    drift_share: float,
    scores: dict[str, ModelScores | dict | None],
    synthetic_rows: int,
    train_rows: int,
    promoted: bool,
    champion_version: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One cycle as plain Python values (JSON, Dagster metadata). `scores` maps a
    series name such as "champion (holdout)" to that model's scores on that set; `extra`
    adds plain values (the recipe, who decided, the pooled synthetic effect, stage times)."""
    record: dict[str, Any] = dict(
        batch=batch_id,
        drift_share=float(drift_share),
        synthetic_rows=int(synthetic_rows),
        train_rows=int(train_rows),
        promoted=bool(promoted),
        champion_version=champion_version or "",
    )
    record["synthetic_share"] = synthetic_rows / (train_rows + synthetic_rows) if train_rows + synthetic_rows else 0.0
    record.update(extra or {})
    record["scores"] = {}
    for name, value in scores.items():
        values = asdict(value) if isinstance(value, ModelScores) else (value or {})
        if any(values.get(m) is not None for m in METRICS):
            record["scores"][name] = {m: values.get(m) for m in METRICS}
    return plain(record)


def flywheel_figure(records: list[dict[str, Any]]) -> go.Figure:
    """Six panels over cycles: overall AUC, blind-spot AUC, drift and synthetic share,
    promotions, the synthetic rows' pooled effect with its interval, the loop's seconds."""
    batches = [r["batch"] for r in records]
    fig = make_subplots(
        rows=3,
        cols=2,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=(
            "overall ROC AUC (real data)",
            "blind-spot ROC AUC (real data)",
            "drift share and synthetic share",
            "promotions",
            "synthetic rows' effect, pooled over cycles (blind-spot ROC AUC, 95% interval)",
            "the loop's own seconds per cycle",
        ),
    )
    series = list(dict.fromkeys(name for r in records for name in r["scores"]))
    models = list(
        dict.fromkeys(name.split(" (")[0] for name in series)
    )  # one colour per model, dashed for the backtest
    colour = {m: pc.qualitative.Dark24[i % len(pc.qualitative.Dark24)] for i, m in enumerate(models)}
    for col, metric in enumerate(METRICS, start=1):
        for name in series:
            values = [r["scores"].get(name, {}).get(metric) for r in records]
            fig.add_trace(
                go.Scatter(
                    x=batches,
                    y=values,
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    mode="lines+markers",
                    line={"dash": "dash" if "backtest" in name else "solid", "color": colour[name.split(" (")[0]]},
                ),
                row=1,
                col=col,
            )
    fig.add_trace(
        go.Scatter(x=batches, y=[r["drift_share"] for r in records], name="drift share", mode="lines+markers"),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=batches,
            y=[r["synthetic_share"] for r in records],
            name="synthetic share of training rows",
            mode="lines+markers",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=batches,
            y=[1 if r["promoted"] else 0 for r in records],
            name="challenger promoted",
            text=[f"v{r['champion_version']}" for r in records],
            textposition="outside",
        ),
        row=2,
        col=2,
    )
    effect = [r.get("synthetic_effect") for r in records]
    low, high = ([r.get(f"synthetic_effect_{k}") for r in records] for k in ("low", "high"))
    errors = [None if h is None or e is None else h - e for e, h in zip(effect, high)]
    minus = [None if lo is None or e is None else e - lo for e, lo in zip(effect, low)]
    fig.add_trace(
        go.Scatter(x=batches, y=effect, name="synthetic effect (pooled)", mode="markers",
                   error_y={"type": "data", "array": errors, "arrayminus": minus}),
        row=3, col=1,
    )  # fmt: skip
    fig.add_hline(y=0, line={"dash": "dot", "color": "grey"}, row=3, col=1)
    fig.add_trace(go.Bar(x=batches, y=[r.get("loop_seconds") for r in records], name="loop seconds"), row=3, col=2)
    fig.update_xaxes(type="category")  # batch ids are labels, not dates
    fig.update_yaxes(range=[0, 1.05], row=2)
    fig.update_layout(height=1080, title="factory flywheel: cycle by cycle", legend={"orientation": "h", "y": -0.08})
    return fig


def flywheel_html(records: list[dict[str, Any]]) -> str:
    """A standalone page: the figure and the table of cycle records under it."""
    columns = [k for k in (records[0] if records else {}) if k != "scores"]
    header = "".join(f"<th>{k}</th>" for k in columns)
    table = "".join("<tr>" + "".join(f"<td>{_cell(r.get(k))}</td>" for k in columns) + "</tr>" for r in records)
    plot = pio.to_html(flywheel_figure(records), include_plotlyjs=True, full_html=False)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>factory flywheel</title>"
        f"<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;text-align:right}}</style></head>"
        f"<body>{plot}<h2>cycles</h2><table><tr>{header}</tr>{table}</table></body></html>"
    )


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def plan_vs_accepted(plan: list[dict], generated: pd.DataFrame, accepted: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows planned, generated and accepted per blind spot, from the plan and the
    `_blind_spot_id` lineage column (absent when nothing was generated)."""
    made, kept = (f.get("_blind_spot_id", pd.Series(dtype=object)).value_counts() for f in (generated, accepted))
    return [
        dict(
            predicate=p["predicate"],
            planned=int(p["rows"]),
            generated=int(made.get(p["blind_spot_id"], 0)),
            accepted=int(kept.get(p["blind_spot_id"], 0)),
        )
        for p in plan
    ]
