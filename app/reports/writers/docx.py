"""DOCX report (python-docx): headings, paragraphs, tables and chart images (matplotlib PNGs)."""
from __future__ import annotations

import io
from pathlib import Path

import docx
from docx.shared import Inches, Pt

from app.reports import charts
from app.reports.document import ReportDocument, Table, fmt
from app.reports.writers import clean_text

#: Widest table printed; wider ones are cut with a note (all columns stay in the XLSX/JSON).
MAX_COLUMNS = 12


def _table(document, t: Table) -> None:
    frame = t.frame
    cut = frame.shape[1] > MAX_COLUMNS
    if cut:
        frame = frame.iloc[:, :MAX_COLUMNS]
    document.add_paragraph(clean_text(t.caption), style="Caption" if "Caption" in
                           [s.name for s in document.styles] else None)
    table = document.add_table(rows=1, cols=max(1, frame.shape[1]))
    table.style = "Table Grid"
    for c, name in zip(table.rows[0].cells, frame.columns):
        c.text = clean_text(str(name))
        for r in c.paragraphs[0].runs:
            r.bold = True
    for row in frame.itertuples(index=False, name=None):
        cells = table.add_row().cells
        for c, v in zip(cells, row):
            c.text = clean_text(fmt(v))
    if frame.shape[1] > 6:
        for row in table.rows:
            for c in row.cells:
                for p in c.paragraphs:
                    for r in p.runs:
                        r.font.size = Pt(7)
    if cut:
        document.add_paragraph(f"Only the first {MAX_COLUMNS} of {t.frame.shape[1]} columns are shown.")


def write(doc: ReportDocument, path: Path) -> None:
    document = docx.Document()
    document.add_heading(clean_text(doc.title), level=0)
    document.add_paragraph(clean_text(doc.subtitle))
    for section in doc.sections:
        document.add_heading(clean_text(section.heading), level=1)
        for p in section.paragraphs:
            document.add_paragraph(clean_text(p))
        for t in section.tables:
            _table(document, t)
        for chart in section.charts:
            document.add_picture(io.BytesIO(charts.png_bytes(chart)), width=Inches(6.2))
    document.core_properties.title = clean_text(doc.title)[:255]
    document.save(str(path))
