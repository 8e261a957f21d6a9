"""Rendering of file-processing results: text preview, stats, images and download buttons."""
from __future__ import annotations

import mimetypes
from pathlib import Path

import streamlit as st

from app.services import storage
from config.settings import get_settings


def download_button(path: str, label: str | None = None, key: str | None = None) -> None:
    """A download button for an output file under DATA_DIR (refuses anything outside it)."""
    try:
        p = storage.confine(get_settings().DATA_DIR, path)
    except Exception as exc:  # noqa: BLE001
        st.error(str(exc))
        return
    if not p.is_file():
        st.caption(f"{p.name} is no longer available (cleaned up).")
        return
    mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    st.download_button(label or f"Download {p.name}", data=p.read_bytes(), file_name=p.name, mime=mime,
                       key=key or f"dl:{p}")


def render_outputs(result: dict) -> None:
    """Show a `{'status', 'outputs': {...}}` result of a file task."""
    outputs = (result or {}).get("outputs", {})
    if "stats" in outputs:
        stats = outputs["stats"]
        cols = st.columns(min(len(stats), 7) or 1)
        for col, (k, v) in zip(cols, stats.items()):
            col.metric(k.replace("_", " ").title(), v)
    if outputs.get("text_preview") is not None:
        st.text_area("Text preview", outputs["text_preview"], height=200, disabled=True,
                     key=f"preview:{outputs.get('text_file')}")
    if outputs.get("text_file"):
        download_button(outputs["text_file"], "Download text", key=f"dl-text:{outputs['text_file']}")
    images = outputs.get("images") or []
    if images:
        st.caption(f"{len(images)} embedded image(s)")
        shown = [p for p in images if Path(p).suffix.lower() in {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}]
        if shown:
            st.image([str(p) for p in shown[:12]], width=160, caption=[Path(p).name for p in shown[:12]])
        for p in images:
            download_button(p, f"Download {Path(p).name}", key=f"dl-img:{p}")
