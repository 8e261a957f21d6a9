"""The Reports page's two forms: a report or export of an uploaded data file, and a task-performance
report. Each offers only the formats its task writes."""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

import streamlit as st

from app.errors import InvalidInput
from app.reports.export import EXPORT_FORMATS
from app.reports.writers import REPORT_FORMATS
from app.ui import timing
from app.ui.report_results import submit
from app.ui.resources import settings
from app.ui.report_sources import columns_of

#: Report kind shown -> report task (app.tasks.report_tasks.<name>).
KINDS = MappingProxyType({"Analytics report": "generate_analytics_report", "Summary report (AI)": "generate_summary_report",
         "Export data": "export_data"})
REPORT_TYPES = MappingProxyType({"summary": "Summary", "detailed": "Detailed", "trend": "Trend over time"})


def formats_of(task_name: str) -> tuple[str, ...]:
    """The output formats `task_name` writes (exports: csv, xlsx, json, xml; reports: html, xlsx, docx, pdf, json)."""
    return EXPORT_FORMATS if task_name == "export_data" else REPORT_FORMATS


def data_report(app, path: str, name: str) -> tuple[str, dict[str, Any]] | None:
    """The report form for the data file `path` (shown as `name`); submits on "Create" and returns
    the configured (task name, kwargs), for the recurring-report form; None when the file cannot be read."""
    try:
        columns, head = columns_of(path)
    except InvalidInput as exc:
        st.error(str(exc))
        return None
    if not columns:
        return None
    st.dataframe(head.head(10), hide_index=True)
    kind = st.selectbox("Report", list(KINDS), key="rep_kind")
    task_name = KINDS[kind]
    exporting = task_name == "export_data"
    allowed = formats_of(task_name)
    with st.form("rep_form"):
        c1, c2 = st.columns(2)
        formats = c2.multiselect("Formats", allowed, default=[allowed[0]], key=f"rep_formats_{task_name}"
                                 if exporting else "rep_formats", help="One file per format")
        if exporting:
            st.caption("An export writes the rows as they are, one file per format.")
            report_type, group_by, date_col, values = "summary", "(none)", "(auto)", []
        else:
            report_type = c1.selectbox("Report type", list(REPORT_TYPES), format_func=REPORT_TYPES.get, key="rep_type")
            group_by = c1.selectbox("Group by", ["(none)", *columns], key="rep_group")
            date_col = c2.selectbox("Date column", ["(auto)", *columns], key="rep_date")
            values = st.multiselect("Value columns (empty: every numeric column)", columns, key="rep_values")
        choice = timing.inputs("rep_when", app, settings=settings())
        go = st.form_submit_button("Create", type="primary")
    if exporting:
        configured = (task_name, {"data": {"file_path": path}, "format": (formats or [allowed[0]])[0]})
    else:
        configured = (task_name, {"data": {"file_path": path}, "report_type": report_type,
                                  "format": formats or [allowed[0]], "title": f"{kind} of {name}",
                                  "group_by": None if group_by == "(none)" else group_by,
                                  "date_column": None if date_col == "(auto)" else date_col,
                                  "value_columns": values})
    if go and not formats:
        st.warning("Choose at least one format.")
    elif go and exporting:
        for fmt in formats:
            submit(app, task_name, {"data": {"file_path": path}, "format": fmt, "name": f"{name} export"},
                   f"Export of {name} ({fmt})", choice)
    elif go:
        submit(app, task_name, configured[1], f"{kind} of {name}", choice)
    return configured


def performance_report(app) -> None:
    """Period and formats of a task-performance report; submits on its button."""
    with st.form("rep_perf"):
        period = st.selectbox("Period", ["1h", "24h", "7d"], index=1, key="rep_period",
                              format_func={"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days"}.get)
        formats = st.multiselect("Formats", REPORT_FORMATS, default=["html"], key="rep_perf_formats")
        choice = timing.inputs("rep_perf_when", app, settings=settings())
        if st.form_submit_button("Create performance report"):
            submit(app, "generate_task_performance_report", {"period": period, "format": formats or ["html"]},
                   f"Task performance ({period})", choice)
