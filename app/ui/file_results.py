"""Rendering of file-processing results: previews, stats, tables, images and download buttons.

Everything that came from a file or a client (names, text, sheet titles, metadata) is shown with
plain-text widgets (st.text, st.code, st.dataframe, st.metric, st.json); never as HTML.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app.ui.downloads import download_button, image_source

_SHOWN_IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}


def _metrics(values: dict) -> None:
    items = [(k, v) for k, v in values.items() if isinstance(v, (int, float, str)) or v is None]
    for start in range(0, len(items), 6):
        row = items[start:start + 6]
        for col, (k, v) in zip(st.columns(len(row)), row):
            col.metric(k.replace("_", " ").title(), "—" if v is None else v)


def render_outputs(result: dict) -> None:
    """Show a `{'status', 'outputs': {...}}` result of any file task (or a batch entry)."""
    outputs = (result or {}).get("outputs", {}) or {}
    if outputs.get("message"):
        st.warning(outputs["message"])
    for key in ("stats", "structure", "info", "metadata"):
        if isinstance(outputs.get(key), dict):
            st.caption(key.replace("_", " ").title())
            flat = {k: v for k, v in outputs[key].items() if not isinstance(v, (dict, list))}
            _metrics(flat)
            nested = {k: v for k, v in outputs[key].items() if isinstance(v, (dict, list))}
            if nested:
                st.json(nested, expanded=False)
    if outputs.get("text_preview") is not None:
        st.text_area("Text preview", outputs["text_preview"], height=200, disabled=True,
                     key=f"preview:{outputs.get('text_file')}")
    for key, label in (("text_file", "Download text"), ("slides_file", "Download slides (JSON)"),
                       ("analysis_file", "Download analysis (JSON)")):
        if outputs.get(key):
            download_button(outputs[key], label, key=f"dl-{key}:{outputs[key]}")
    _render_excel(outputs)
    _render_images(outputs)


def _render_excel(outputs: dict) -> None:
    sheets = (outputs.get("analysis") or {}).get("sheets") or []
    for sheet in sheets:
        with st.expander(f"Sheet {sheet['name']} · {sheet['rows']} rows × {sheet['columns']} columns"):
            st.text(f"Used range {sheet['used_range']} (declared {sheet['declared_dimensions']})")
            cols = pd.DataFrame({"type": sheet["column_types"], "nulls": sheet["null_counts"]})
            st.dataframe(cols)
            if sheet["numeric_stats"]:
                st.dataframe(pd.DataFrame(sheet["numeric_stats"]).T)
    if outputs.get("totals"):
        rows = [{"sheet": s, "column": c, "total": v} for s, cols in outputs["totals"].items() for c, v in cols.items()]
        st.caption("Totals")
        st.dataframe(pd.DataFrame(rows, columns=["sheet", "column", "total"]))
    for p in outputs.get("csv_files") or []:
        download_button(p, f"Download {Path(p).name}", key=f"dl-csv:{p}")


def _render_images(outputs: dict) -> None:
    for key in ("thumbnail", "resized"):
        if outputs.get(key):
            size = (outputs.get("output_sizes") or {}).get(key)
            st.caption(f"{key.title()}: {size[0]}×{size[1]} px" if size else key.title())
            st.image(image_source(outputs[key]), width=min(320, size[0]) if size else 320)
            download_button(outputs[key], f"Download {key}", key=f"dl-{key}:{outputs[key]}")
    images = outputs.get("images") or []
    if images:
        st.caption(f"{len(images)} embedded image(s)")
        shown = [p for p in images if Path(p).suffix.lower() in _SHOWN_IMAGES]
        if shown:
            st.image([image_source(str(p)) for p in shown[:12]], width=160, caption=[Path(p).name for p in shown[:12]])
        for p in images:
            download_button(p, f"Download {Path(p).name}", key=f"dl-img:{p}")


def render_batch_entry(entry: dict) -> None:
    """One file of a batch: its error, or its outputs."""
    if entry.get("status") == "failed":
        st.error(entry.get("error") or "failed")
    else:
        render_outputs(entry)


def render_batch(dispatched: dict) -> None:
    """A dispatched batch: one live panel per file, then the summary."""
    from app.ui.task_status import task_panel

    for item in dispatched.get("items", []):
        with st.container(border=True):
            task_panel(item["task_id"], item["name"], render_batch_entry)
    task_panel(dispatched["summary_task_id"], "Batch summary",
               lambda r: _metrics({k: v for k, v in (r or {}).get("summary", {}).items() if k != "by_family"}))
