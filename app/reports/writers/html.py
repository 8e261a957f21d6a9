"""HTML report: one self-contained file (plotly.js inlined once) with interactive charts.

Every text from the data is escaped (`html.escape`); the summary is embedded as JSON in
``<script type="application/json" id="report-summary">`` for machines.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from app.reports import charts
from app.reports.document import ReportDocument, Table, fmt

STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,DejaVu Sans,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}h1{margin-bottom:.2rem}.subtitle{color:#666}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.9rem}th,td{border:1px solid #ddd;
padding:.25rem .5rem;text-align:right}th{background:#f3f5f8}td.text{text-align:left}
caption{text-align:left;font-weight:600;padding:.3rem 0}.chart{margin:1rem 0}
.table-wrap{overflow-x:auto}"""


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.frame.columns)
    rows = []
    for row in t.frame.itertuples(index=False, name=None):
        cells = "".join(f'<td class="{"text" if isinstance(v, str) else "num"}">{html.escape(fmt(v))}</td>'
                        for v in row)
        rows.append(f"<tr>{cells}</tr>")
    return (f'<div class="table-wrap"><table><caption>{html.escape(t.caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def render(doc: ReportDocument) -> str:
    """The report as one HTML page (str)."""
    parts, js_done = [], False
    for section in doc.sections:
        parts.append(f"<section><h2>{html.escape(section.heading)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        parts += [_table(t) for t in section.tables]
        for chart in section.charts:
            parts.append(f'<div class="chart">{charts.plotly_html(chart, include_js=not js_done)}</div>')
            js_done = True
        parts.append("</section>")
    summary = json.dumps(doc.summary, default=str).replace("</", "<\\/")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(doc.title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(doc.title)}</h1><p class=\"subtitle\">{html.escape(doc.subtitle)}</p>"
            f"{''.join(parts)}"
            f'<script type="application/json" id="report-summary">{summary}</script></body></html>')


def write(doc: ReportDocument, path: Path) -> None:
    Path(path).write_text(render(doc), encoding="utf-8")
