"""PDF report (fpdf2) in the DejaVu Sans Unicode font that matplotlib ships (mpl-data/fonts/ttf).

DejaVu covers Latin, Greek, Cyrillic, Hebrew and Arabic letters but not CJK: such characters are
left out of the PDF (fpdf2 logs the missing glyphs); the XLSX/DOCX/HTML outputs keep them.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from app.reports import charts
from app.reports.document import ReportDocument, Table, fmt

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
#: Widest table printed; wider ones are cut with a note (all columns stay in the XLSX/JSON).
MAX_COLUMNS = 12
CELL_CHARS = 60


def _pdf() -> FPDF:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    return pdf


def _text(pdf: FPDF, text: str, size: float = 10, style: str = "") -> None:
    pdf.set_font(FONT, style, size)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _table(pdf: FPDF, t: Table) -> None:
    frame = t.frame.iloc[:, :MAX_COLUMNS]
    _text(pdf, t.caption, 9, "B")
    size = 8 if frame.shape[1] <= 6 else 6.5
    pdf.set_font(FONT, "", size)
    with pdf.table(line_height=size * 0.55, text_align="LEFT", first_row_as_headings=True,
                   headings_style=FontFace(emphasis="BOLD"), padding=0.8) as table:
        head = table.row()
        for name in frame.columns:
            head.cell(str(name)[:CELL_CHARS])
        for values in frame.itertuples(index=False, name=None):
            row = table.row()
            for v in values:
                row.cell(fmt(v)[:CELL_CHARS])
    if t.frame.shape[1] > MAX_COLUMNS:
        _text(pdf, f"Only the first {MAX_COLUMNS} of {t.frame.shape[1]} columns are shown.", 8)
    pdf.ln(2)


def write(doc: ReportDocument, path: Path) -> None:
    pdf = _pdf()
    pdf.set_title(doc.title)
    _text(pdf, doc.title, 18, "B")
    _text(pdf, doc.subtitle, 10)
    for section in doc.sections:
        pdf.ln(2)
        _text(pdf, section.heading, 14, "B")
        for p in section.paragraphs:
            _text(pdf, p, 10)
        for t in section.tables:
            _table(pdf, t)
        for chart in section.charts:
            pdf.image(io.BytesIO(charts.png_bytes(chart)), w=pdf.epw)
            pdf.ln(2)
    pdf.output(str(path))
