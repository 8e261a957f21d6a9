"""Rendering of report task results: summary figures and one download button per output file."""
from __future__ import annotations

from types import MappingProxyType
import re
from pathlib import Path, PurePosixPath

import streamlit as st

from app.errors import InvalidInput
from app.files import filestore, storage
from app.ui.downloads import download_button
from config.settings import get_settings

#: MIME type per output extension (IANA registrations; OOXML types from ECMA-376 Part 2).
MIME_TYPES = MappingProxyType({
    ".html": "text/html",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".csv": "text/csv",
    ".xml": "application/xml",
})

#: A job name ending in a file extension, maybe followed by a note in brackets ("sales.csv (csv)").
_NAME_WITH_SUFFIX = re.compile(r"^(.+)\.[A-Za-z0-9]{1,5}(?:\s*\(.*\))?$")


def download_spec(path: str, job_name: str = "") -> tuple[Path, str, str]:
    """(confined path, safe download file name, MIME type) for an output file.

    The name is the job's name without its extension plus the output's extension ("Analytics
    report of sales.html"), else the output's own name, reduced to letters, digits, ``._ -``
    (`storage.display_name`). Raises InvalidInput for a path outside DATA_DIR.
    """
    if filestore.is_url(path):
        store = filestore.current()
        if not store.owns(path):
            raise InvalidInput("This storage URL is outside the configured bucket.")
        p = PurePosixPath(store.name_of(path))
    else:
        p = storage.confine(get_settings().DATA_DIR, path)
    stem = storage.display_name(_without_suffix(job_name), 80).strip("_") if job_name else ""
    name = storage.display_name(f"{stem}{p.suffix}" if stem and stem != "file" else p.name)
    return p, name, MIME_TYPES.get(p.suffix.lower(), "application/octet-stream")


def _without_suffix(job_name: str) -> str:
    """'Export of sales.csv (csv)' -> 'Export of sales'; 'Task performance (24h)' stays as it is."""
    base = job_name.replace("\\", "/").rsplit("/", 1)[-1]
    m = _NAME_WITH_SUFFIX.match(base)
    return m.group(1) if m else base


def download(path: str, job_name: str, key: str) -> None:
    """A download button for one output, with its safe name and MIME type (`download_spec`)."""
    try:
        p, name, mime = download_spec(path, job_name)
    except Exception as exc:  # noqa: BLE001 - a bad path is shown, never raised into the page
        st.error(str(exc))
        return
    download_button(path if filestore.is_url(path) else str(p), f"Download {p.suffix.lstrip('.').upper()}", key,
                    file_name=name, mime=mime)


def render_report(result: dict, job_name: str = "") -> None:
    """Show a report task's ``{'outputs', 'summary'}`` result."""
    summary = (result or {}).get("summary") or {}
    figures = {k: summary[k] for k in ("rows", "columns", "tasks", "finished", "success_rate_pct", "groups",
                                       "periods") if summary.get(k) is not None}
    if figures:
        cols = st.columns(len(figures))
        for col, (k, v) in zip(cols, figures.items()):
            col.metric(k.replace("_pct", " %").replace("_", " ").capitalize(), v)
    ai = summary.get("executive_summary")
    if ai and ai.get("status") == "missing":
        st.info(f"No executive summary: {ai.get('reason')}")
    outputs = (result or {}).get("outputs") or {}
    cols = st.columns(max(len(outputs), 1))
    for col, (kind, path) in zip(cols, outputs.items()):
        with col:
            download(path, job_name, key=f"dl:{path}")


JOBS = "report_jobs"


def submit(app, task_name: str, kwargs: dict, title: str, choice=None) -> str | None:
    """Send ``app.tasks.report_tasks.<task_name>(**kwargs)`` as the signed-in identity (checked and
    audited, `app.ui.access.submit`), with the priority and delay of `choice` (`app.ui.timing.Choice`,
    a refused delay is shown and nothing is sent), and list it first among the page's jobs (session
    state `JOBS`: ``[{'id', 'name'}]``); returns the task id, or None when nothing was sent."""
    from app.errors import InvalidInput
    from app.ui import access

    try:
        options = choice.options(app) if choice is not None else {}
    except InvalidInput as exc:
        st.error(str(exc))
        return None
    result = access.submit(app.tasks[f"app.tasks.report_tasks.{task_name}"], kwargs=kwargs, **options)
    if result is None:
        return None
    st.session_state.setdefault(JOBS, []).insert(0, {"id": result.id, "name": title})
    return result.id
