"""The one download button for output files (file, report and other results): a path under
DATA_DIR, or a storage URL (FILE_STORE=s3) streamed from the store when the button is clicked."""
from __future__ import annotations

import mimetypes

import streamlit as st

from app.files import filestore, storage
from config.settings import get_settings


def download_button(path: str, label: str | None = None, key: str | None = None, *,
                    file_name: str | None = None, mime: str | None = None) -> None:
    """A download button for `path`, refused (shown as an error) when it lies outside DATA_DIR and
    replaced by a note when the file was cleaned up. `file_name` / `mime` default to the file's own
    name and the type guessed from its extension."""
    if filestore.is_url(path):
        _remote_button(path, label, key, file_name, mime)
        return
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


def _remote_button(url: str, label, key, file_name, mime) -> None:
    store = filestore.current()
    try:
        if not store.owns(url):
            raise ValueError("This storage URL is outside the configured bucket; it cannot be downloaded here.")
        name = store.name_of(url)
        present = store.exists(url)
    except Exception as exc:  # noqa: BLE001 - a bad URL or an unreachable store is shown, never raised
        st.error(str(exc))
        return
    if not present:
        st.caption(f"{name} is no longer available (cleaned up).")
        return
    st.download_button(label or f"Download {name}", data=lambda: store.open(url), file_name=file_name or name,
                       mime=mime or mimetypes.guess_type(name)[0] or "application/octet-stream",
                       key=key or f"dl:{url}")


def image_source(ref: str):
    """What `st.image` takes for an output image: its path, or its bytes read from the store."""
    if filestore.is_url(ref):
        with filestore.current().open(ref) as body:
            return body.read()
    return ref
