"""Rendering of file-processing results: previews, stats, tables, images and download buttons.

Everything that came from a file or a client (names, text, sheet titles, metadata) is shown with
plain-text widgets (st.text, st.code, st.dataframe, st.metric, st.json); never as HTML.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from app.ui.downloads import download_button, image_source
from app.ui.output_archive import download_name, zip_bytes

_SHOWN_IMAGES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"})
#: A PDF date (ISO 32000-1 §7.9.4): D:YYYYMMDDHHmmSS, then Z or +/-HH'mm'; only the year is required.
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(Z|[+-]\d{2}'?\d{2}'?)?")
_FILE_KEYS = ("text_file", "slides_file", "analysis_file", "thumbnail", "resized")


def pdf_date(value):
    """A PDF date such as D:20141205142043-05'00' as "2014-12-05 14:20:43 -05:00"; anything else unchanged."""
    m = _PDF_DATE.match(value) if isinstance(value, str) else None
    if not m:
        return value
    y, mo, d, h, mi, sec, tz = m.groups()
    text = f"{y}-{mo or '01'}-{d or '01'}" + (f" {h}:{mi or '00'}:{sec or '00'}" if h else "")
    if tz == "Z":
        text += " UTC"
    elif tz:
        digits = tz[1:].replace("'", "")
        text += f" {tz[0]}{digits[:2]}:{digits[2:4]}"
    return text


def output_files(outputs: dict) -> list[str]:
    """Every file an output dict names (text, slides, analysis, CSVs, thumbnail, resized, images)."""
    refs = [outputs[k] for k in _FILE_KEYS if outputs.get(k)]
    return refs + list(outputs.get("csv_files") or []) + [str(p) for p in outputs.get("images") or []]


def _metrics(values: dict) -> None:
    items = [(k, v) for k, v in values.items() if isinstance(v, (int, float, str)) or v is None]
    for start in range(0, len(items), 6):
        row = items[start:start + 6]
        for col, (k, v) in zip(st.columns(len(row)), row):
            col.metric(k.replace("_", " ").title(), "—" if v is None else v)


def render_outputs(result: dict, source_name: str = "") -> None:
    """Show a `{'status', 'outputs': {...}}` result of any file task (or a batch entry); downloads
    are named after `source_name` (the uploaded file's name), with one ZIP of them all."""
    outputs = (result or {}).get("outputs", {}) or {}
    if outputs.get("message"):
        st.warning(outputs["message"])
    for key in ("stats", "structure", "info", "metadata"):
        if isinstance(outputs.get(key), dict):
            st.caption(key.replace("_", " ").title())
            flat = {k: pdf_date(v) for k, v in outputs[key].items() if not isinstance(v, (dict, list))}
            _metrics({k: v for k, v in flat.items() if not isinstance(v, str)})
            words = {k: v for k, v in flat.items() if isinstance(v, str)}
            if words:  # text fields (title, author, dates) in full, never cut like a metric
                st.dataframe(pd.DataFrame({"field": [k.replace("_", " ").capitalize() for k in words],
                                           "value": list(words.values())}), hide_index=True, width="stretch")
            nested = {k: v for k, v in outputs[key].items() if isinstance(v, (dict, list))}
            if nested:
                st.json(nested, expanded=False)
    if outputs.get("text_preview") is not None:
        st.text_area("Text preview", outputs["text_preview"], height=200, disabled=True,
                     key=f"preview:{outputs.get('text_file')}")
    for key, label in (("text_file", "Download text"), ("slides_file", "Download slides (JSON)"),
                       ("analysis_file", "Download analysis (JSON)")):
        if outputs.get(key):
            download_button(outputs[key], label, key=f"dl-{key}:{outputs[key]}",
                            file_name=download_name(source_name, outputs[key]))
    _render_excel(outputs, source_name)
    _render_images(outputs, source_name)
    files = output_files(outputs)
    if len(files) > 1:
        st.download_button(f"Download all ({len(files)} files, ZIP)", data=lambda: zip_bytes(files, source_name),
                           file_name=download_name(source_name, "outputs.zip"), mime="application/zip",
                           key=f"dl-zip:{files[0]}", icon=":material/folder_zip:")


def _render_excel(outputs: dict, source_name: str = "") -> None:
    sheets = (outputs.get("analysis") or {}).get("sheets") or []
    for sheet in sheets:
        with st.expander(f"Sheet {sheet['name']} · {sheet['rows']} rows × {sheet['columns']} columns"):
            st.text(f"Used range {sheet['used_range']} (declared {sheet['declared_dimensions']})")
            cols = pd.DataFrame({"type": sheet["column_types"], "nulls": sheet["null_counts"]})
            st.dataframe(cols)
            if sheet["numeric_stats"]:
                st.dataframe(pd.DataFrame(sheet["numeric_stats"]).T)
    if "totals" in outputs:
        rows = [{"sheet": s, "column": c, "total": v} for s, cols in (outputs["totals"] or {}).items()
                for c, v in cols.items()]
        st.caption("Totals")
        if rows:
            st.dataframe(pd.DataFrame(rows, columns=["sheet", "column", "total"]), hide_index=True)
        else:
            st.info("No totals: no sheet has a column of numbers (totals add up numeric columns only; "
                    "text, dates and empty columns are left out).", icon=":material/functions:")
    csvs = outputs.get("csv_files") or []
    for start in range(0, len(csvs), 4):  # rows of four buttons
        for col, p in zip(st.columns(4), csvs[start:start + 4]):
            with col:
                download_button(p, f"Download {Path(p).name}", key=f"dl-csv:{p}",
                                file_name=download_name(source_name, p))


def _render_images(outputs: dict, source_name: str = "") -> None:
    for key in ("thumbnail", "resized"):
        if outputs.get(key):
            size = (outputs.get("output_sizes") or {}).get(key)
            st.caption(f"{key.title()}: {size[0]}×{size[1]} px" if size else key.title())
            st.image(image_source(outputs[key]), width=min(320, size[0]) if size else 320)
            download_button(outputs[key], f"Download {key}", key=f"dl-{key}:{outputs[key]}",
                            file_name=download_name(source_name, outputs[key]))
    images = outputs.get("images") or []
    if images:
        st.caption(f"{len(images)} embedded image(s)")
        shown = [p for p in images if Path(p).suffix.lower() in _SHOWN_IMAGES]
        if shown:
            st.image([image_source(str(p)) for p in shown[:12]], width=160, caption=[Path(p).name for p in shown[:12]])
        for p in images:
            download_button(p, f"Download {Path(p).name}", key=f"dl-img:{p}",
                            file_name=download_name(source_name, str(p)))


def render_batch_entry(entry: dict, source_name: str = "") -> None:
    """One file of a batch: its error, or its outputs."""
    if entry.get("status") == "failed":
        st.error(entry.get("error") or "failed")
    else:
        render_outputs(entry, source_name)


def render_batch(dispatched: dict) -> None:
    """A dispatched batch: one live panel per file, then the summary."""
    from app.ui.task_status import task_panel

    for item in dispatched.get("items", []):
        with st.container(border=True):
            task_panel(item["task_id"], item["name"], lambda r, n=item["name"]: render_batch_entry(r, n))
    task_panel(dispatched["summary_task_id"], "Batch summary",
               lambda r: _metrics({k: v for k, v in (r or {}).get("summary", {}).items() if k != "by_family"}))
