"""The format-neutral report: sections of paragraphs, tables and charts that every writer renders.

Building a report once as a `ReportDocument` and rendering it per format keeps the numbers in the
HTML, XLSX, DOCX, PDF and JSON outputs identical.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Decimals shown for non-integer numbers in HTML / DOCX / PDF tables (XLSX keeps full precision).
DECIMALS = 4


@dataclass
class Chart:
    """A bar or line chart: categories `x` and one list of numbers per series name."""

    title: str
    kind: str  # "bar" | "line"
    x: list[Any]
    series: dict[str, list[float | None]]
    x_label: str = ""
    y_label: str = ""


@dataclass
class Table:
    caption: str
    frame: pd.DataFrame


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass
class ReportDocument:
    """A whole report. `data` (optional) is the source rows, written to the XLSX data sheet."""

    title: str
    subtitle: str
    sections: list[Section]
    summary: dict[str, Any]
    data: pd.DataFrame | None = None
    data_rows_shown: int = 0  # rows of `data` the DOCX/PDF/HTML print (detailed reports)


def fmt(v: Any) -> str:
    """A cell as text: integers as is, other numbers rounded to DECIMALS (trailing zeros cut),
    missing values as '', dates ISO."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, bool):
        return str(v)
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        text = f"{round(v, DECIMALS):.{DECIMALS}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(v, (pd.Timestamp, dt.datetime, dt.date)):
        return v.isoformat()
    return str(v)


def native(v: Any) -> Any:
    """A pandas/numpy scalar as a plain Python value; NA, NaT, NaN and ±inf → None."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def jsonable(v: Any) -> Any:
    """A JSON-safe value: NaN/NaT → None, numpy scalars → Python, dates → ISO, others → str."""
    v = native(v)
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, (pd.Timestamp, dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, (dt.timedelta, pd.Timedelta)):
        return str(v)
    return str(v)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as JSON-safe records (column names as strings)."""
    cols = [str(c) for c in frame.columns]
    return [{c: jsonable(v) for c, v in zip(cols, row)} for row in frame.itertuples(index=False, name=None)]
