"""Excel (.xlsx) processing in one streaming pass per sheet: analysis, CSV export, column totals.

Operations (the `process_excel_file` task): ``analyze``, ``convert_to_csv``, ``calculate_totals``.
Workbooks are opened with openpyxl in read-only mode (rows stream from the XML, memory does not grow
with the row count) and ``data_only=True`` (formulas give their cached values). The declared sheet
dimension is ignored (`reset_dimensions`): a sheet claiming ``A1:XFD1048576`` with 22 real cells
costs what its real cells cost. Numeric statistics are computed with pandas per chunk of rows and
merged (Chan et al. 1979 pairwise update for the variance), so memory stays bounded by one chunk.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
from defusedxml import DefusedXmlException
from openpyxl.utils import get_column_letter

from app.errors import CorruptFile, UnsafeFile
from app.documents import intake

OPERATIONS = ("analyze", "convert_to_csv", "calculate_totals")
#: Cells per statistics chunk (rows per chunk = CHUNK_CELLS // columns).
CHUNK_CELLS = 200_000
#: Columns per sheet listed in the task result; the analysis JSON file has them all.
MAX_RESULT_COLUMNS = 200


def open_workbook(path: Path):
    """Open a stored .xlsx read-only with cached formula values.

    Raises:
        UnsafeFile: a part declares XML entities (defusedxml refused it).
        CorruptFile: unreadable, or no worksheet openpyxl can read (e.g. Strict Open XML).
    """
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except DefusedXmlException as exc:
        raise UnsafeFile(f"The workbook declares XML entities ({type(exc).__name__}); refused.") from exc
    except Exception as exc:  # noqa: BLE001 - zip/xml/openpyxl errors all mean "cannot parse"
        raise intake.corrupt("xlsx", exc) from exc
    if not wb.sheetnames:
        wb.close()
        raise CorruptFile("The workbook has no worksheets that can be read; it may be saved as Strict "
                          "Open XML. Re-save it in Excel as a standard .xlsx workbook.")
    return wb


def cell_text(value: Any) -> str:
    """A cell value as CSV text: dates/times as ISO 8601, durations as ISO 8601 (PnDTnHnMnS)."""
    if value is None:
        return ""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _iso_duration(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


#: Text starting with one of these is a formula to a spreadsheet (OWASP "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> str:
    """`cell_text`, with a text cell (header or data) that starts like a formula prefixed by "'" so a
    spreadsheet opening the CSV shows it as text (numbers, negative ones included, are left alone)."""
    text = cell_text(value)
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_START) else text


def _iso_duration(td: dt.timedelta) -> str:
    sign = "-" if td < dt.timedelta(0) else ""
    total = abs(td)
    seconds = total.seconds + total.microseconds / 1e6
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    s_text = f"{s:g}"
    return f"{sign}P{total.days}DT{int(h)}H{int(m)}M{s_text}S"


def _kind(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return "date"
    if isinstance(value, dt.timedelta):
        return "duration"
    return "text"


def _rows(ws) -> Iterator[list[Any]]:
    """Rows of `ws` as lists trimmed of trailing empty cells (empty rows give [])."""
    ws.reset_dimensions()
    for row in ws.iter_rows(values_only=True):
        n = len(row)
        while n and (row[n - 1] is None or row[n - 1] == ""):
            n -= 1
        yield list(row[:n])


def _looks_like_header(row: list[Any]) -> bool:
    """A first non-empty row is a header when every non-empty cell in it is text."""
    return all(isinstance(v, str) for v in row if v is not None and v != "")


def _header_names(row: list[Any]) -> list[str]:
    names, seen = [], set()
    for i, v in enumerate(row, start=1):
        base = cell_text(v).strip() or f"column_{i}"
        name, n = base, 2
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        names.append(name)
    return names


class _ColumnStats:
    """Running per-column counts and pandas-computed numeric moments over chunks of rows."""

    def __init__(self) -> None:
        self.kinds: dict[int, dict[str, int]] = {}
        self.nulls: dict[int, int] = {}
        self.moments: dict[int, dict[str, float]] = {}
        self.rows = 0
        self.width = 0
        self._chunk: list[list[Any]] = []

    def add(self, row: list[Any]) -> None:
        self.rows += 1
        self.width = max(self.width, len(row))
        self._chunk.append(row)
        if len(self._chunk) * max(self.width, 1) >= CHUNK_CELLS:
            self.flush()

    def flush(self) -> None:
        if not self._chunk:
            return
        width = self.width
        numeric: dict[int, list[float]] = {}
        for row in self._chunk:
            for c in range(width):
                v = row[c] if c < len(row) else None
                k = _kind(v)
                if k is None:
                    self.nulls[c] = self.nulls.get(c, 0) + 1
                    continue
                counts = self.kinds.setdefault(c, {})
                counts[k] = counts.get(k, 0) + 1
                if k == "number" and math.isfinite(v):
                    numeric.setdefault(c, []).append(float(v))
        self._chunk = []
        for c, values in numeric.items():
            s = pd.Series(values, dtype="float64")
            self._merge(c, int(s.count()), float(s.sum()), float(s.mean()),
                        float(((s - s.mean()) ** 2).sum()), float(s.min()), float(s.max()))

    def _merge(self, c: int, n: int, total: float, mean: float, m2: float, lo: float, hi: float) -> None:
        cur = self.moments.get(c)
        if cur is None:
            self.moments[c] = {"count": n, "sum": total, "mean": mean, "m2": m2, "min": lo, "max": hi}
            return
        n_a, n_ab = cur["count"], cur["count"] + n
        delta = mean - cur["mean"]
        cur["m2"] += m2 + delta * delta * n_a * n / n_ab
        cur["mean"] += delta * n / n_ab
        cur.update(count=n_ab, sum=cur["sum"] + total, min=min(cur["min"], lo), max=max(cur["max"], hi))

    def column_type(self, c: int) -> str:
        counts = self.kinds.get(c)
        if not counts:
            return "empty"
        if len(counts) == 1:
            return next(iter(counts))
        top, n = max(counts.items(), key=lambda kv: kv[1])
        return top if n >= 0.9 * sum(counts.values()) else "mixed"


def _safe_stem(title: str) -> str:
    return re.sub(r"[^\w.-]+", "_", title, flags=re.UNICODE).strip("._")[:60] or "sheet"


def _sheet_pass(ws, index: int, out_dir: Path, write_csv: bool) -> tuple[dict[str, Any], str | None]:
    declared = _declared(ws)
    stats = _ColumnStats()
    header: list[str] | None = None
    header_row = None
    last_row = 0
    csv_path = out_dir / f"{index:02d}_{_safe_stem(ws.title)}.csv" if write_csv else None
    fh = open(csv_path, "w", newline="", encoding="utf-8") if csv_path else None
    try:
        writer = csv.writer(fh) if fh else None
        pending_blank = 0
        for number, row in enumerate(_rows(ws), start=1):
            if not row:
                pending_blank += 1
                continue
            if writer:
                writer.writerows([[]] * pending_blank)
                writer.writerow([csv_text(v) for v in row])
            pending_blank = 0
            last_row = number
            if header is None and header_row is None and _looks_like_header(row):
                header, header_row = _header_names(row), number
            else:
                header_row = header_row or 0  # the first row was data: no header row
                stats.add(row)
        stats.flush()
    finally:
        if fh:
            fh.close()
    header = header or []
    width = max(stats.width, len(header))
    names = header + [f"column_{i}" for i in range(len(header) + 1, width + 1)]
    numeric = {}
    for c, m in sorted(stats.moments.items()):
        if stats.column_type(c) != "number":
            continue
        std = math.sqrt(m["m2"] / (m["count"] - 1)) if m["count"] > 1 else 0.0
        numeric[names[c]] = {"count": m["count"], "sum": m["sum"], "mean": m["mean"], "std": std,
                             "min": m["min"], "max": m["max"]}
    sheet = {
        "name": ws.title,
        "declared_dimensions": declared,
        "used_range": f"A1:{get_column_letter(width)}{last_row}" if width and last_row else None,
        "header_row": header_row or None,
        "header": names,
        "rows": stats.rows,
        "columns": width,
        "column_types": {names[c]: stats.column_type(c) for c in range(width)},
        "null_counts": {names[c]: stats.nulls.get(c, 0) for c in range(width)},
        "numeric_stats": numeric,
    }
    return sheet, (str(csv_path) if csv_path else None)


def _declared(ws) -> str | None:
    try:
        return ws.calculate_dimension(force=False)
    except Exception:  # noqa: BLE001 - unsized read-only sheets raise ValueError
        return None


def _trim_for_result(sheet: dict[str, Any]) -> dict[str, Any]:
    if sheet["columns"] <= MAX_RESULT_COLUMNS:
        return sheet
    keep = set(sheet["header"][:MAX_RESULT_COLUMNS])
    out = dict(sheet, header=sheet["header"][:MAX_RESULT_COLUMNS], columns_truncated=True)
    for key in ("column_types", "null_counts", "numeric_stats"):
        out[key] = {k: v for k, v in sheet[key].items() if k in keep}
    return out


def process(path: Path, operations: list[str], out_dir: Path,
            on_step: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Run `operations` on the .xlsx at `path` (already checked by `intake.require_kind`).

    Returns (keys for the operations run): ``analysis`` ({'sheets': [per sheet: name,
    declared_dimensions, used_range, header_row, header, rows (data rows), columns, column_types
    (number/date/duration/text/boolean/mixed/empty), null_counts, numeric_stats {count, sum, mean,
    std, min, max}]}), ``analysis_file`` (JSON), ``csv_files`` (one UTF-8 CSV per sheet),
    ``totals`` ({sheet: {column: sum}} over numeric columns).

    Raises:
        InvalidInput: unknown or missing operations. UnsafeFile / CorruptFile: see `open_workbook`.
    """
    ops = intake.check_operations(operations, OPERATIONS)
    step = on_step or (lambda *_: None)
    intake.harden_xml()
    wb = open_workbook(path)
    try:
        sheets_ws = wb.worksheets
        total = len(sheets_ws) + 1
        sheets, csv_files = [], []
        for i, ws in enumerate(sheets_ws, start=1):
            step(i - 1, total, f"sheet {i}/{len(sheets_ws)}: {ws.title}")
            try:
                sheet, csv_file = _sheet_pass(ws, i, Path(out_dir), "convert_to_csv" in ops)
            except DefusedXmlException as exc:
                raise UnsafeFile(f"Sheet {ws.title!r} declares XML entities; refused.") from exc
            except (CorruptFile, UnsafeFile):
                raise
            except Exception as exc:  # noqa: BLE001
                raise intake.corrupt("xlsx", exc) from exc
            sheets.append(sheet)
            if csv_file:
                csv_files.append(csv_file)
    finally:
        wb.close()
    outputs: dict[str, Any] = {}
    if "analyze" in ops:
        analysis_file = Path(out_dir) / "analysis.json"
        analysis_file.write_text(json.dumps({"sheets": sheets}, ensure_ascii=False, indent=1, default=str),
                                 encoding="utf-8")
        outputs["analysis"] = {"sheets": [_trim_for_result(s) for s in sheets]}
        outputs["analysis_file"] = str(analysis_file)
    if "convert_to_csv" in ops:
        outputs["csv_files"] = csv_files
    if "calculate_totals" in ops:
        outputs["totals"] = {s["name"]: {c: v["sum"] for c, v in s["numeric_stats"].items()} for s in sheets}
    step(total, total, "done")
    return outputs

