"""Evidently's side of drift: DataDriftPreset run on (a sample of) the rows, its HTML report a
person reads, and the tidy per-column table the warehouse keeps. The verdict the loop acts
on comes from the fast path (monitor.drift), which picks its tests exactly as Evidently does."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pandas as pd

from factory.core.base.dataset import sample_rows
from factory.core.base.spec import DatasetSpec
from factory.core.base.types import (
    ColumnDrift,
    DriftReport,
)


def evidently_drift(
    batch_id: str, reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec, max_rows: int | None = None
):
    """Run Evidently's DataDriftPreset; returns (DriftReport, snapshot). The per-column
    verdicts are those of the drift table the preset's page draws."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.metrics import DataDriftTable
    from evidently.metrics import DriftedColumnsCount
    from evidently.presets import DataDriftPreset

    class DriftPage(DataDriftPreset):
        """The preset without its per-column ValueDrift metrics: each renders a chart the
        preset's page never shows (0.9 of 2.4 s on a hotel batch)."""

        def generate_metrics(self, context):
            return [m for m in super().generate_metrics(context) if isinstance(m, DriftedColumnsCount)]

    numeric = [c for c in spec.numeric if current[c].notna().any() and reference[c].notna().any()]
    categorical = [c for c in spec.categorical if current[c].notna().any() and reference[c].notna().any()]
    columns = numeric + categorical
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    limit = max_rows or max(len(reference), len(current))
    ref = Dataset.from_pandas(sample_rows(reference[columns], limit), data_definition=definition)
    cur = Dataset.from_pandas(sample_rows(current[columns], limit), data_definition=definition)
    per_column = {c: o for c, o in spec.drift.per_column.items() if c in columns}
    options = dict(
        columns=columns,
        per_column_method={c: o["test"] for c, o in per_column.items() if "test" in o} or None,
        per_column_threshold={c: float(o["threshold"]) for c, o in per_column.items() if "threshold" in o} or None,
    )
    snapshot = Report([DriftPage(threshold=spec.drift.stattest_threshold, **options)]).run(
        current_data=cur, reference_data=ref
    )
    # the table the page drew (the same settings find it computed), by the public legacy-metric call
    table, _ = snapshot.context.get_legacy_metric(
        DataDriftTable(
            columns=columns,
            stattest_threshold=spec.drift.stattest_threshold,
            per_column_stattest=options["per_column_method"],
            per_column_stattest_threshold=options["per_column_threshold"],
        ),
        None,
        None,
    )
    results = []
    for column in columns:
        drift = table.drift_by_columns[column]
        kind = "numeric" if column in numeric else "categorical"
        results.append(
            ColumnDrift(
                column, kind, drift.stattest_name, float(drift.drift_score), float(drift.stattest_threshold),
                bool(drift.drift_detected),
            )
        )  # fmt: skip
    drifted_columns = tuple(r.column for r in results if r.drifted)
    report = DriftReport(
        batch_id=batch_id,
        rows=len(current),
        drift_share=len(drifted_columns) / len(results) if results else 0.0,
        drifted_columns=drifted_columns,
        columns=tuple(results),
    )
    return report, snapshot


def detect_drift(
    batch_id: str, reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec
) -> tuple[DriftReport, str]:
    """Per-column drift verdicts of Evidently (on at most report_sample_rows rows) and its HTML report (as text)."""
    report, snapshot = evidently_drift(batch_id, reference, current, spec, spec.drift.report_sample_rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        snapshot.save_html(str(path))
        html = path.read_text()
    return report, html


def with_verdict(html: str, page: DriftReport, verdict: DriftReport, sampled: int, threshold: float) -> str:
    """Evidently's page with the verdict the loop acts on as its first line: an operator reads
    the page, and the page runs on a sample with Evidently's own tests, so it may disagree."""
    import html as escape

    drifted = ", ".join(verdict.drifted_columns) or "none"
    decision = "drift: regeneration is triggered" if verdict.drift_share >= threshold else "no drift"
    differ = sorted(set(page.drifted_columns) ^ set(verdict.drifted_columns))
    sample = f"a sample of {sampled} of {verdict.rows} rows" if sampled < verdict.rows else f"all {verdict.rows} rows"
    first = (
        f"Verdict (all {verdict.rows} rows against the stored reference profile, the one the factory acts on): "
        f"drift share {verdict.drift_share:.3f}, threshold {threshold:g}: {decision}; drifted: {drifted}. "
        f"This page is Evidently's DataDriftPreset on {sample}: drift share {page.drift_share:.3f}"
        + (f"; it judges {', '.join(differ)} differently." if differ else "; it agrees on every column.")
    )
    banner = (
        '<div id="factory-verdict" style="font:15px sans-serif;padding:10px;background:#fff3cd;'
        f'border-bottom:2px solid #856404">{escape.escape(first)}</div>'
    )
    opened = re.search(r"<body[^>]*>", html)
    at = opened.end() if opened else 0
    return html[:at] + banner + html[at:]


def drift_table(report: DriftReport, extra: tuple[ColumnDrift, ...] = ()) -> pd.DataFrame:
    """One tidy row per column (test, statistic, threshold, verdict, both sides summarised),
    for parquet and the warehouse; `extra` rows (e.g. prediction drift) are appended."""
    columns = [
        "batch_id",
        "column",
        "kind",
        "test",
        "statistic",
        "threshold",
        "drifted",
        "note",
        "reference_summary",
        "current_summary",
        "reference_null_share",
        "current_null_share",
    ]
    rows = [
        dict(
            batch_id=report.batch_id,
            column=c.column,
            kind=c.kind,
            test=c.test,
            statistic=c.score,
            threshold=c.threshold,
            drifted=c.drifted,
            note=c.note,
            reference_summary=c.reference_summary,
            current_summary=c.current_summary,
            reference_null_share=c.reference_null_share,
            current_null_share=c.current_null_share,
        )
        for c in report.columns + tuple(extra)
    ]
    return pd.DataFrame(rows, columns=columns)
