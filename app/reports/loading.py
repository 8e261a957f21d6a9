"""Reading report data into a pandas DataFrame: inline records or a stored CSV / XLSX / JSON file.

A data source is one of (`generate_analytics_report(data=...)`):

- ``{'records': [{...}, ...]}``      small inline records (at most REPORT_MAX_INLINE_RECORDS);
- ``{'file_path': '<stored path>'}`` a file under DATA_DIR (uploads or a task's outputs), with an
  optional ``'sheet'`` (name or 0-based index) for workbooks.

The kind of a file comes from its content (`app.files.filetypes.detect`), never its name.
Fully empty rows and columns are dropped; column names become trimmed strings.
"""
from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import pandas as pd

from app.errors import CorruptFile, FileTooLarge, InvalidInput, UnsupportedFile
from app.files import filetypes

SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
STRICT_MESSAGE = ("The workbook has no readable sheets; it may be saved as Strict Open XML. Re-save it "
                  "as a standard Excel Workbook (.xlsx) and upload it again.")


def source_path(data: Any) -> str | None:
    """The stored file path a data source refers to, or None for inline records / bad shapes."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and isinstance(data.get("file_path"), str):
        return data["file_path"]
    return None


def file_kind(path: Path) -> str:
    """'csv', 'xlsx' or 'json' for a stored data file.

    Raises:
        UnsupportedFile: an encrypted / legacy workbook, or content that is not tabular data.
    """
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    kind = filetypes.detect_path(path)
    if kind == "xlsx":
        return "xlsx"
    if kind == "encrypted_office":
        raise UnsupportedFile("This workbook is password-encrypted; open it in Excel, remove the "
                              "password, save it and upload it again.")
    if kind == "ole2":
        raise UnsupportedFile("This is a legacy binary Office file (.xls); save it as .xlsx and "
                              "upload it again.")
    if kind in ("text", "csv", "json") or kind is None and _looks_textual(head):
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return "json" if stripped[:1] in (b"[", b"{") else "csv"
    raise UnsupportedFile(f"This file is {kind or 'of an unknown type'}, not CSV, XLSX or JSON data.")


def _looks_textual(head: bytes) -> bool:
    return bool(head) and b"\x00" not in head


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def sniff_delimiter(sample: str) -> str:
    """The CSV delimiter among , ; TAB | (csv.Sniffer on the first lines), ',' when unsure."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _csv_options(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        raw = fh.read(SNIFF_BYTES)
    try:
        sample, encoding = raw.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 4:  # a multi-byte character cut by the sample's end
            sample, encoding = raw[:exc.start].decode("utf-8-sig"), "utf-8-sig"
        else:
            sample, encoding = raw.decode("cp1252", errors="replace"), "cp1252"
    lines = sample.splitlines()
    return {"sep": sniff_delimiter("\n".join(lines[:50])), "encoding": encoding,
            "encoding_errors": "replace"}


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Drop fully empty rows/columns, make column names unique trimmed strings, reset the index."""
    df = df.dropna(how="all").dropna(axis=1, how="all")
    names, seen = [], {}
    for col in df.columns:
        name = str(col).strip() or "column"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    df.columns = names
    return df.reset_index(drop=True)


def read_records(records: Any, max_records: int) -> pd.DataFrame:
    """A DataFrame from inline records (a list of dicts).

    Raises:
        InvalidInput: not a list of objects, or more than `max_records` (store a file instead).
    """
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidInput("'records' must be a list of objects (one per row), e.g. "
                           "[{'region': 'north', 'sales': 10}].")
    if len(records) > max_records:
        raise InvalidInput(f"{len(records)} inline records is over the limit of {max_records} "
                           "(REPORT_MAX_INLINE_RECORDS); upload the data as a CSV or XLSX file instead.")
    return pd.DataFrame.from_records(records)


def _read_json(path: Path) -> pd.DataFrame:
    try:
        payload = json.loads(_decode(path.read_bytes()))
    except ValueError as exc:
        raise CorruptFile(f"The JSON file could not be parsed: {exc}.") from exc
    if isinstance(payload, dict) and "records" in payload:
        payload = payload["records"]
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise UnsupportedFile("The JSON file must hold a list of objects, or {'records': [...]}.")
    return pd.DataFrame.from_records(payload)


def _read_xlsx(path: Path, sheet: str | int | None, max_rows: int) -> pd.DataFrame:
    try:
        sheets = pd.read_excel(path, sheet_name=None if sheet is None else sheet, engine="openpyxl",
                               nrows=max_rows + 1)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise CorruptFile(f"The workbook is damaged or not a standard .xlsx ({exc}).") from exc
    except (ParseError, ValueError) as exc:
        cause = exc if isinstance(exc, ParseError) else (exc.__cause__ or exc.__context__)
        if isinstance(cause, ParseError) or type(cause).__module__.startswith("defusedxml"):
            raise CorruptFile(f"The workbook's XML could not be parsed safely ({cause}); it may be "
                              "malicious or damaged.") from exc
        if "empty list" in str(exc):  # openpyxl read no sheet names: Strict OOXML
            raise UnsupportedFile(STRICT_MESSAGE) from exc
        if sheet is not None and "not found" in str(exc).lower():
            raise InvalidInput(f"The workbook has no sheet {sheet!r}.") from exc
        raise CorruptFile("The workbook could not be read: "
                          f"{str(exc).split(' from ')[0].splitlines()[0]}.") from exc
    except Exception as exc:  # openpyxl raises many kinds on odd files
        raise CorruptFile(f"The workbook could not be read: {type(exc).__name__}: {exc}.") from exc
    if isinstance(sheets, pd.DataFrame):
        return sheets
    if not sheets:
        raise UnsupportedFile(STRICT_MESSAGE)
    for frame in sheets.values():  # the first sheet that holds data
        if not tidy(frame).empty:
            return frame
    return next(iter(sheets.values()))


def read_file(path: Path, max_rows: int, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a stored CSV / XLSX / JSON file (at most `max_rows` data rows).

    Raises:
        UnsupportedFile, CorruptFile: see `file_kind` and the per-format readers.
        FileTooLarge: more than `max_rows` rows (REPORT_MAX_ROWS).
    """
    kind = file_kind(path)
    if kind == "xlsx":
        df = _read_xlsx(path, sheet, max_rows)
    elif kind == "json":
        df = _read_json(path)
    else:
        try:
            df = pd.read_csv(path, nrows=max_rows + 1, **_csv_options(path))
        except pd.errors.EmptyDataError:
            df = pd.DataFrame()
        except pd.errors.ParserError as exc:
            raise CorruptFile(f"The CSV file could not be parsed: {exc}.") from exc
    if len(df) > max_rows:
        raise FileTooLarge(f"The data has more than {max_rows} rows (REPORT_MAX_ROWS); split it or "
                           "raise the limit.")
    return df


def load(data: Any, resolve_path, max_records: int, max_rows: int) -> pd.DataFrame:
    """The tidy DataFrame for a data source (see module docstring).

    Args:
        resolve_path: turns a client-given path into a checked Path inside DATA_DIR
            (raises InvalidInput outside it or when missing).
    Raises:
        InvalidInput: bad shape, empty data, or any error of `read_records` / `read_file`.
    """
    path = source_path(data)
    if path is not None:
        sheet = data.get("sheet") if isinstance(data, dict) else None
        df = read_file(resolve_path(path), max_rows, sheet)
    elif isinstance(data, dict) and "records" in data:
        df = read_records(data["records"], max_records)
    else:
        raise InvalidInput("data must be {'records': [...]} or {'file_path': '<stored file>'}.")
    df = tidy(df)
    if df.empty:
        raise InvalidInput("The data is empty: no rows with values were found. Check the file has a "
                           "header row and at least one data row.")
    return df


def iter_csv_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a stored CSV file in DataFrames of `chunk_rows` rows (for large exports)."""
    try:
        reader = pd.read_csv(path, chunksize=chunk_rows, **_csv_options(path))
        for chunk in reader:
            yield chunk
    except pd.errors.EmptyDataError:
        return
    except pd.errors.ParserError as exc:
        raise CorruptFile(f"The CSV file could not be parsed: {exc}.") from exc


def count_lines(path: Path) -> int:
    """Physical lines in a file (an upper bound of its CSV rows + 1 header), read in 1 MiB blocks."""
    n = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += block.count(b"\n")
    return n


def preview(path: Path, rows: int = 200, limits=None) -> pd.DataFrame:
    """The first `rows` tidy rows of a stored file (for choosing columns on the page). A workbook is
    checked by the zip guard (`archive_guard.check_zip`, `limits` or the settings' ZIP_* limits)
    before it is opened, and only the first `rows` rows of its first sheet are read.

    Raises:
        InvalidInput (and subclasses): as `read_file`; FileTooLarge / UnsafeFile from the zip guard.
    """
    path = Path(path)
    if file_kind(path) == "csv":
        try:
            return tidy(pd.read_csv(path, nrows=rows, **_csv_options(path)))
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
        except pd.errors.ParserError as exc:
            raise CorruptFile(f"The CSV file could not be parsed: {exc}.") from exc
    if file_kind(path) == "xlsx":  # zip guard first, then only the first rows of the first sheet
        from app.documents import archive_guard

        archive_guard.check_zip(path, limits or archive_guard.ZipLimits.from_settings(_settings()), label="workbook")
        return tidy(_read_xlsx(path, 0, rows)).head(rows)
    return tidy(read_file(path, max_rows=10**9)).head(rows)


def _settings():
    from config.settings import get_settings

    return get_settings()
