"""XLSX report (openpyxl, write-only): Summary sheet, Charts sheet with native Excel charts, Data sheet.

Numbers keep full precision here (no rounding). Each chart's data block sits on the Charts sheet
at column A and the native bar/line chart that references it is anchored beside it at column H.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, LineChart, Reference

from app.reports.document import Chart, ReportDocument, native

CHART_BLOCK_ROWS = 22  # rows reserved per chart (a 7.5 cm chart is about 15 rows high)
SUMMARY, CHARTS, DATA = "Summary", "Charts", "Data"


def text_safe(ws, value: Any) -> Any:
    """`value` ready for a write-only sheet: a string starting with "=" is written as text, not as a
    formula (openpyxl treats such strings as formulas; OWASP "CSV Injection" applies to XLSX too)."""
    if isinstance(value, str) and value.startswith("="):
        c = WriteOnlyCell(ws, value=value)
        c.data_type = "s"
        return c
    return value


def append_row(ws, values: list) -> None:
    """Append `values` to a write-only sheet with every string kept as text (see `text_safe`)."""
    ws.append([text_safe(ws, v) for v in values])


def cell(v: Any) -> Any:
    """A value openpyxl can store: numbers, str, naive datetimes; NaN → empty; others → str."""
    v = native(v)
    if v is None:
        return None
    if isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None)
    if isinstance(v, (dt.date, dt.time)):
        return v
    return ILLEGAL_CHARACTERS_RE.sub("", str(v))


def _frame_rows(frame: pd.DataFrame):
    yield [cell(str(c)) for c in frame.columns]
    for row in frame.itertuples(index=False, name=None):
        yield [cell(v) for v in row]


def _chart(chart: Chart, first_row: int, n: int, sheet):
    obj = LineChart() if chart.kind == "line" else BarChart()
    obj.title = chart.title[:250]
    obj.x_axis.title = chart.x_label[:250] or None
    obj.y_axis.title = chart.y_label[:250] or None
    obj.height, obj.width = 7.5, 16
    data = Reference(sheet, min_col=2, max_col=1 + len(chart.series), min_row=first_row, max_row=first_row + n)
    cats = Reference(sheet, min_col=1, min_row=first_row + 1, max_row=first_row + n)
    return obj, data, cats


def write(doc: ReportDocument, path: Path) -> None:
    wb = Workbook(write_only=True)
    summary = wb.create_sheet(SUMMARY)
    append_row(summary, [cell(doc.title)])
    append_row(summary, [cell(doc.subtitle)])
    all_charts = []
    for section in doc.sections:
        append_row(summary, [])
        append_row(summary, [cell(section.heading)])
        for p in section.paragraphs:
            append_row(summary, [cell(p)])
        for t in section.tables:
            append_row(summary, [cell(t.caption)])
            for row in _frame_rows(t.frame):
                append_row(summary, row)
            append_row(summary, [])
        all_charts += section.charts
    if all_charts:
        sheet = wb.create_sheet(CHARTS)
        row = 1
        for chart in all_charts:
            append_row(sheet, [cell(chart.x_label or "x"), *[cell(k) for k in chart.series]])
            for i, x in enumerate(chart.x):
                append_row(sheet, [cell(x), *[cell(vs[i]) for vs in chart.series.values()]])
            obj, data, cats = _chart(chart, row, len(chart.x), sheet)
            obj.add_data(data, titles_from_data=True)
            obj.set_categories(cats)
            sheet.add_chart(obj, f"H{row}")
            used = 1 + len(chart.x)
            for _ in range(max(0, CHART_BLOCK_ROWS - used)):
                append_row(sheet, [])
            row += max(used, CHART_BLOCK_ROWS)
    if doc.data is not None:
        data_sheet = wb.create_sheet(DATA)
        for values in _frame_rows(doc.data):
            append_row(data_sheet, values)
    wb.save(path)
