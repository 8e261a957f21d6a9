"""The one download button for output files under DATA_DIR (file, report and other results)."""
from __future__ import annotations

import mimetypes

import streamlit as st

from app.services import storage
from config.settings import get_settings


def download_button(path: str, label: str | None = None, key: str | None = None, *,
                    file_name: str | None = None, mime: str | None = None) -> None:
    """A download button for `path`, refused (shown as an error) when it lies outside DATA_DIR and
    replaced by a note when the file was cleaned up. `file_name` / `mime` default to the file's own
    name and the type guessed from its extension."""
    try:
        p = storage.confine(get_settings().DATA_DIR, path)
    except Exception as exc:  # noqa: BLE001 - a bad path is shown, never raised into the page
        st.error(str(exc))
        return
    if not p.is_file():
        st.caption(f"{p.name} is no longer available (cleaned up).")
        return
    st.download_button(label or f"Download {p.name}", data=p.read_bytes(), file_name=file_name or p.name,
                       mime=mime or mimetypes.guess_type(p.name)[0] or "application/octet-stream",
                       key=key or f"dl:{p}")
