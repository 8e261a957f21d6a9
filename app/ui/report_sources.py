"""Where a report's data comes from on the Reports page: an upload, or a finished task's output file."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from celery.result import AsyncResult

from app.errors import InvalidInput
from app.store import history
from app.reports import loading
from app.ui.resources import celery
from app.ui.uploads import store_upload

DATA_SUFFIXES = (".csv", ".xlsx", ".json")
UPLOAD_KINDS = frozenset({"xlsx", "csv", "text", "json"})


def _paths(value, out: list[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _paths(v, out)
    elif isinstance(value, list):
        for v in value:
            _paths(v, out)
    elif isinstance(value, str) and value.lower().endswith(DATA_SUFFIXES) and Path(value).is_file():
        out.append(value)


def finished_outputs(client, limit: int = 20) -> dict[str, str]:
    """Data files (CSV/XLSX/JSON) written by the newest finished file-processing tasks and exports:
    label -> stored path. Reads `limit` history entries per queue and their results."""
    found: dict[str, str] = {}
    for queue in ("file_processing_queue", "reports_queue"):
        flt = history.TaskFilter(state="SUCCESS", queue=queue)
        for task in history.list_tasks(client, flt, limit=limit):
            paths: list[str] = []
            _paths(AsyncResult(task["id"], app=celery()).result, paths)
            for p in paths:
                if p.lower().endswith(".json") and "export" not in Path(p).name and queue == "reports_queue":
                    continue  # a report's own JSON is a report, not data
                found[f"{task['name'].rsplit('.', 1)[-1]} · {task['id'][:8]} · {Path(p).name}"] = p
    return found


def choose_source(client) -> tuple[str, str] | None:
    """The data source picker; returns (stored path, display name) or None."""
    kind = st.radio("Data", ["Upload CSV / XLSX", "Output of a finished task"], horizontal=True, key="rep_src")
    if kind.startswith("Upload"):
        up = st.file_uploader("CSV or XLSX file", type=["csv", "xlsx", "json"], key="rep_upload")
        if up is None:
            return None
        stored = st.session_state.get("rep_stored")
        if not stored or stored["file_id"] != up.file_id:
            try:
                s = store_upload(up, allowed_kinds=UPLOAD_KINDS)
            except InvalidInput as exc:
                st.error(str(exc))
                return None
            stored = {"file_id": up.file_id, "path": str(s.path), "name": s.original_name}
            st.session_state["rep_stored"] = stored
        return stored["path"], stored["name"]
    options = finished_outputs(client)
    if not options:
        st.info("No finished task has written a CSV, XLSX or JSON file yet.")
        return None
    label = st.selectbox("Output file", list(options), key="rep_output")
    return options[label], Path(options[label]).name


@st.cache_data(show_spinner=False, max_entries=32)
def columns_of(path: str) -> tuple[list[str], pd.DataFrame]:
    """(column names, first rows) of a stored data file. Raises InvalidInput when unreadable."""
    head = loading.preview(Path(path), rows=50)
    return [str(c) for c in head.columns], head
