"""One writer per report format; each renders a `ReportDocument` to a file.

`write(doc, fmt, path)` dispatches on the format name (html, xlsx, docx, pdf, json).
"""
from __future__ import annotations

import re
from pathlib import Path

from app.errors import InvalidInput
from app.reports.document import ReportDocument

REPORT_FORMATS = ("html", "xlsx", "docx", "pdf", "json")
#: Characters XML 1.0 (and so DOCX/XLSX) cannot hold: C0 controls except TAB, LF, CR.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_text(text: str) -> str:
    """`text` without characters XML 1.0 forbids (they are dropped)."""
    return _XML_ILLEGAL.sub("", text)


def write(doc: ReportDocument, fmt: str, path: Path) -> Path:
    """Render `doc` as `fmt` into `path`; returns `path`.

    Raises:
        InvalidInput: `fmt` is not one of REPORT_FORMATS.
    """
    from app.reports.writers import docx, html, json, pdf, xlsx

    writers = {"html": html.write, "xlsx": xlsx.write, "docx": docx.write, "pdf": pdf.write,
               "json": json.write}
    if fmt not in writers:
        raise InvalidInput(f"Unknown report format {fmt!r}; use one of {', '.join(REPORT_FORMATS)}.")
    writers[fmt](doc, Path(path))
    return Path(path)
