"""The synthetic gate's page: one self-contained HTML report a person reads, one row per
slice with its breaches in red, and the privacy attacks with their intervals."""

from __future__ import annotations

import html
from dataclasses import fields

from factory.core.base.spec import DatasetSpec
from factory.core.gate.privacy import (
    ATTACKS,
    SETTING,
)
from factory.core.gate.quality import THRESHOLDS, FidelityReport, SliceMetrics, breached


def to_html(report: FidelityReport, spec: DatasetSpec) -> str:
    """A self-contained page a person can read: one row per slice, breaches in red."""
    names = [f.name for f in fields(SliceMetrics) if f.name != "attacks"]
    thresholds = {
        m: f"{'≤' if side == 'max' else '≥'} {getattr(spec.gate, s):g}"
        if getattr(spec.gate, s) is not None
        else "reported"
        for m, (s, side) in THRESHOLDS.items()
    }
    head = "".join(f"<th>{html.escape(n)}<br><small>{thresholds.get(n, '')}</small></th>" for n in names)

    def cell(m: SliceMetrics, n: str) -> str:
        v = getattr(m, n)
        text = "–" if v is None else f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))
        return f"<td{' class=bad' if breached(m, n, spec) else ''}>{text}</td>"

    rows = "".join("<tr>" + "".join(cell(m, n) for n in names) + "</tr>" for m in report.slices)
    limits = {a: getattr(spec.gate, SETTING[a]) for a in ATTACKS}
    attacks = "".join(
        f"<tr><td>{html.escape(m.slice)}</td><td>{a.attack}</td><td>{a.n_attacks}</td><td>{a.attack_rate:.3f}</td><td>{a.control_rate:.3f}</td>"
        f"<td>{a.baseline_rate:.3f}</td><td>{a.risk:.3f} [{a.risk_low:.3f}, {a.risk_high:.3f}]</td>"
        f"<td>{'reported' if limits[a.attack] is None else f'lower bound ≤ {limits[a.attack]:g}'}</td>"
        f"<td{' class=bad' if a.verdict == 'fail' else ''}>{a.verdict}</td></tr>"
        for m in report.slices
        for a in m.attacks
    )
    verdict = "passed" if report.passed else "failed"
    items = "".join(f"<li>{html.escape(f)}</li>" for f in report.failures) or "<li>none</li>"
    warned = "".join(f"<li>{html.escape(f)}</li>" for f in report.warnings) or "<li>none</li>"
    missing = "".join(f"<li>{html.escape(n)}</li>" for n in report.not_done)
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Synthetic batch {html.escape(report.batch_id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:4px 6px}}
.bad{{background:#f8d0d0}}th{{background:#eee}}</style></head><body>
<h1>Synthetic batch {html.escape(report.batch_id)}: fidelity and privacy {verdict}</h1>
<p>Dataset <b>{html.escape(spec.name)}</b>; samples of at most {spec.gate.sample_rows} rows per side;
slices with fewer than {spec.gate.min_slice_rows} real or synthetic rows are not judged (–).
Took {report.seconds:.1f} s.</p>
<h2>Gate failures (reject the batch)</h2><ul>{items}</ul>
<h2>Warnings (per blind spot: reported, not blocking unless spec gate.slices_block)</h2><ul>{warned}</ul>
<h2>Metrics</h2><table><tr>{head}</tr>{rows}</table>
<h2>Privacy attacks</h2><p>Against the training rows, a real control set the generator never saw
(the holdout) and a random baseline; risk = (training rate - control rate) / (1 - control rate), 95% interval.
An attack no better than random is inconclusive: it proves nothing either way.</p>
<table><tr><th>slice</th><th>attack</th><th>targets</th><th>training rate</th><th>control rate</th>
<th>baseline rate</th><th>risk [95% CI]</th>
<th>threshold</th><th>verdict</th></tr>{attacks or "<tr><td colspan=9>not run (slice too small)</td></tr>"}</table>
<h2>Not evaluated</h2><ul>{missing}</ul></body></html>"""
