"""Drift of a batch against the reference period, with Evidently's DataDriftPreset.

Evidently picks the test per column type and sample size (KS / chi-squared on small
references, normed Wasserstein / Jensen-Shannon on large ones). Its HTML report is
the artefact a person reads; the per-column verdicts become a DriftReport.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from factory.core.spec import DatasetSpec
from factory.core.types import ColumnDrift, DriftReport

P_VALUE_TESTS = ("p_value", "K-S", "chi-square", "Z-test", "Fisher")


def _sample(df: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    return df.sample(n=rows, random_state=seed) if len(df) > rows else df


def detect_drift(
    batch_id: str, reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec
) -> tuple[DriftReport, str]:
    """Per-column drift verdicts and the Evidently HTML report (as text)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in spec.numeric if current[c].notna().any() and reference[c].notna().any()]
    categorical = [c for c in spec.categorical if current[c].notna().any() and reference[c].notna().any()]
    columns = numeric + categorical
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    limit = spec.drift.report_sample_rows
    ref = Dataset.from_pandas(_sample(reference[columns], limit), data_definition=definition)
    cur = Dataset.from_pandas(_sample(current[columns], limit), data_definition=definition)
    preset = DataDriftPreset(columns=columns, threshold=spec.drift.stattest_threshold)
    snapshot = Report([preset]).run(current_data=cur, reference_data=ref)

    results = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        method = str(config.get("method", ""))
        threshold = float(config.get("threshold", spec.drift.stattest_threshold))
        score = float(metric["value"])
        is_p_value = any(t.lower() in method.lower() for t in P_VALUE_TESTS)
        drifted = score < threshold if is_p_value else score >= threshold
        column = config["column"]
        kind = "numeric" if column in numeric else "categorical"
        results.append(ColumnDrift(column, kind, method, score, threshold, bool(drifted)))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        snapshot.save_html(str(path))
        html = path.read_text()

    drifted = tuple(r.column for r in results if r.drifted)
    report = DriftReport(
        batch_id=batch_id,
        rows=len(current),
        drift_share=len(drifted) / len(results) if results else 0.0,
        drifted_columns=drifted,
        columns=tuple(results),
    )
    return report, html


def drift_table(report: DriftReport) -> pd.DataFrame:
    """One tidy row per column, for parquet and the warehouse."""
    rows = [
        dict(batch_id=report.batch_id, column=c.column, kind=c.kind, test=c.test,
             score=c.score, threshold=c.threshold, drifted=c.drifted)
        for c in report.columns
    ]
    return pd.DataFrame(rows, columns=["batch_id", "column", "kind", "test", "score", "threshold", "drifted"])
