"""Reports: analytics / AI summary reports and exports of a CSV or XLSX, task-performance reports,
live task state, downloads, and recurring report schedules."""
import streamlit as st

from app.errors import InvalidInput
from app.ui import flash, report_schedules, timing
from app.ui.access import can, read_only_note
from app.ui.report_results import JOBS, render_report, submit
from app.ui.report_sources import choose_source, columns_of
from app.ui.resources import celery, redis_client, redis_ok_or_banner, settings
from app.ui.task_status import task_panel
from app.ui.navigation import via_entry_script

via_entry_script()

KINDS = {"Analytics report": "generate_analytics_report", "Summary report (AI)": "generate_summary_report",
         "Export data": "export_data"}
st.session_state.setdefault(JOBS, [])
st.title("Reports")
st.caption(f"Reports run on **reports_queue**. Uploads up to {settings().MAX_UPLOAD_MB} MB.")
if not redis_ok_or_banner():
    st.stop()
flash.show("rep_flash")
app = celery()
configured: tuple[str, dict] | None = None


data_tab, perf_tab, sched_tab = st.tabs(["Data report", "Task performance", "Recurring reports"])
with data_tab:
    source = choose_source(redis_client()) if can("submit") else read_only_note()
    if source:
        path, name = source
        try:
            columns, head = columns_of(path)
        except InvalidInput as exc:
            st.error(str(exc))
            columns = None
        if columns:
            st.dataframe(head.head(10), hide_index=True)
            with st.form("rep_form"):
                kind = st.selectbox("Report", list(KINDS), key="rep_kind")
                c1, c2 = st.columns(2)
                report_type = c1.selectbox("Report type", ["summary", "detailed", "trend"], key="rep_type")
                formats = c2.multiselect("Formats (reports: html, xlsx, docx, pdf, json; export: csv, xlsx, "
                                         "json, xml)", ["html", "xlsx", "docx", "pdf", "json", "csv", "xml"],
                                         default=["html"], key="rep_formats")
                group_by = c1.selectbox("Group by", ["(none)", *columns], key="rep_group")
                date_col = c2.selectbox("Date column", ["(auto)", *columns], key="rep_date")
                values = st.multiselect("Value columns (empty: every numeric column)", columns, key="rep_values")
                choice = timing.inputs("rep_when", app, settings=settings())
                go = st.form_submit_button("Create", type="primary")
            task_name = KINDS[kind]
            if task_name == "export_data":
                configured = (task_name, {"data": {"file_path": path}, "format": (formats or ["csv"])[0]})
            else:
                configured = (task_name, {"data": {"file_path": path}, "report_type": report_type,
                                          "format": formats or ["html"], "title": f"{kind} of {name}",
                                          "group_by": None if group_by == "(none)" else group_by,
                                          "date_column": None if date_col == "(auto)" else date_col,
                                          "value_columns": values})
            if go and not formats:
                st.warning("Choose at least one format.")
            elif go and task_name == "export_data":
                for fmt in formats:
                    submit(app, task_name, {"data": {"file_path": path}, "format": fmt, "name": f"{name} export"},
                           f"Export of {name} ({fmt})", choice)
            elif go:
                submit(app, task_name, configured[1], f"{kind} of {name}", choice)

with perf_tab:
    if not can("submit"):
        read_only_note()
    else:
        with st.form("rep_perf"):
            period = st.selectbox("Period", ["1h", "24h", "7d"], index=1, key="rep_period")
            perf_formats = st.multiselect("Formats", ["html", "xlsx", "docx", "pdf", "json"], default=["html"],
                                          key="rep_perf_formats")
            perf_choice = timing.inputs("rep_perf_when", app, settings=settings())
            if st.form_submit_button("Create performance report"):
                submit(app, "generate_task_performance_report", {"period": period, "format": perf_formats or ["html"]},
                       f"Task performance ({period})", perf_choice)

with sched_tab:
    report_schedules.entries_panel(app)
    if can("schedule_create"):
        st.subheader("Schedule the report configured in “Data report”")
        report_schedules.schedule_form(app, *(configured or (None, None)))

for job in st.session_state[JOBS]:
    with st.container(border=True):
        task_panel(job["id"], job["name"], lambda result, n=job["name"]: render_report(result, n))
