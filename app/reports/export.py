"""Data export (the `export_data` task) to CSV, XLSX, JSON or XML, written in chunks with progress.

A stored CSV is streamed `chunk_rows` rows at a time (never loaded whole); other sources are
loaded, then written in chunks of the same size. Formats:

- csv  — UTF-8 with a BOM (so Excel reads the accents), comma-separated, header row;
- xlsx — one sheet "Data" (openpyxl write-only); at most 1,048,575 data rows (Excel's limit);
- json — an array of objects, one per row; missing values are null, dates ISO 8601;
- xml  — ``<records><record><field name="column">value</field>…</record>…</records>``, UTF-8,
  escaped by ElementTree; characters XML 1.0 forbids are dropped; missing values are left out.
"""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook

from app.errors import FileTooLarge, InvalidInput
from app.reports import loading
from app.reports.document import jsonable
from app.reports.writers import clean_text
from app.reports.writers.xlsx import cell, append_row

EXPORT_FORMATS = ("csv", "xlsx", "json", "xml")
XLSX_MAX_ROWS = 1_048_575


def _chunks(data: Any, resolve_path, max_records: int, max_rows: int,
            chunk_rows: int) -> tuple[Iterator[pd.DataFrame], int | None]:
    """(chunks, estimated total rows) for a data source."""
    path = loading.source_path(data)
    if path is not None:
        p = resolve_path(path)
        if loading.file_kind(p) == "csv":
            total = max(loading.count_lines(p) - 1, 0)
            if total == 0 and not p.read_bytes().strip():
                raise InvalidInput("The data is empty: the CSV file has no header or rows.")
            return loading.iter_csv_chunks(p, chunk_rows), total
    df = loading.load(data, resolve_path, max_records, max_rows)
    return (df.iloc[i:i + chunk_rows] for i in range(0, len(df), chunk_rows)), len(df)


def _plain(v: Any) -> str:
    """A value as export text: full-precision numbers (repr), ISO dates, '' when missing."""
    value = jsonable(v)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


#: Leading characters that make a spreadsheet read a CSV cell as a formula (OWASP "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(v: Any) -> str:
    """`_plain(v)`, with a text value that starts like a formula prefixed by "'" so spreadsheets
    show it as text (numbers, including negative ones, are left alone)."""
    text = _plain(v)
    return "'" + text if isinstance(jsonable(v), str) and text.startswith(FORMULA_START) else text


class _Sink:
    """One output file; `write(chunk)` appends rows, `close()` finishes the file."""

    def __init__(self, fmt: str, path: Path):
        self.fmt, self.path, self.rows, self.columns, self.sep = fmt, path, 0, None, "\n"
        if fmt == "xlsx":
            self.wb = Workbook(write_only=True)
            self.ws = self.wb.create_sheet("Data")
        else:
            self.fh = open(path, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="")
            if fmt == "csv":
                self.csv = csv.writer(self.fh)
            elif fmt == "json":
                self.fh.write("[")
            else:
                self.fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<records>\n')

    def write(self, chunk: pd.DataFrame) -> None:
        if self.columns is None:
            self.columns = [str(c) for c in chunk.columns]
            if self.fmt == "csv":
                self.csv.writerow([_csv_cell(c) for c in self.columns])  # headers get the guard too
            elif self.fmt == "xlsx":
                append_row(self.ws, [cell(c) for c in self.columns])
        chunk = chunk.dropna(how="all")
        if self.fmt == "xlsx" and self.rows + len(chunk) > XLSX_MAX_ROWS:
            raise FileTooLarge(f"XLSX holds at most {XLSX_MAX_ROWS} data rows; export as CSV instead.")
        for row in chunk.itertuples(index=False, name=None):
            self._row(row)
        self.rows += len(chunk)

    def _row(self, row: tuple) -> None:
        if self.fmt == "csv":
            self.csv.writerow([_csv_cell(v) for v in row])
        elif self.fmt == "xlsx":
            append_row(self.ws, [cell(v) for v in row])
        elif self.fmt == "json":
            record = {c: jsonable(v) for c, v in zip(self.columns, row)}
            self.fh.write(self.sep + json.dumps(record, ensure_ascii=False, allow_nan=False))
            self.sep = ",\n"
        else:
            rec = ET.Element("record")
            for c, v in zip(self.columns, row):
                value = jsonable(v)
                if value is None:
                    continue
                field = ET.SubElement(rec, "field", name=clean_text(c))
                field.text = clean_text(_plain(v))
            self.fh.write(ET.tostring(rec, encoding="unicode") + "\n")

    def close(self) -> None:
        if self.fmt == "xlsx":
            if self.columns is None:
                append_row(self.ws, [])
            self.wb.save(self.path)
            return
        if self.fmt == "json":
            self.fh.write("\n]\n")
        elif self.fmt == "xml":
            self.fh.write("</records>\n")
        self.fh.close()

    def abort(self) -> None:
        if self.fmt != "xlsx":
            self.fh.close()
        Path(self.path).unlink(missing_ok=True)


def export(data: Any, fmt_name: str, out_path: Path, *, resolve_path, max_records: int, max_rows: int,
           chunk_rows: int, on_step: Callable[..., None] | None = None) -> dict[str, Any]:
    """Write the data source as `fmt_name` into `out_path`.

    Returns ``{'rows', 'columns': [...], 'format'}``. Progress: ``on_step(rows_done, total, msg)``
    after each chunk (total is estimated from line count for a CSV source).

    Raises:
        InvalidInput: unknown format, empty data, or any loading error (see `loading.load`).
        FileTooLarge: over REPORT_MAX_ROWS rows, or over Excel's row limit for xlsx.
    """
    if fmt_name not in EXPORT_FORMATS:
        raise InvalidInput(f"Unknown export format {fmt_name!r}; use one of {', '.join(EXPORT_FORMATS)}.")
    chunks, total = _chunks(data, resolve_path, max_records, max_rows, chunk_rows)
    sink = _Sink(fmt_name, Path(out_path))
    try:
        for chunk in chunks:
            sink.write(chunk)
            if sink.rows > max_rows:
                raise FileTooLarge(f"The data has more than {max_rows} rows (REPORT_MAX_ROWS).")
            if on_step:
                on_step(sink.rows, max(total or 0, sink.rows), f"{sink.rows} rows written")
        if sink.rows == 0:
            raise InvalidInput("The data is empty: no rows with values were found.")
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return {"rows": sink.rows, "columns": sink.columns or [], "format": fmt_name}
