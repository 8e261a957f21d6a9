"""Reports: analytics / AI summary reports and exports of a CSV or XLSX, task-performance reports,
live task state, downloads, and recurring report schedules."""
import streamlit as st

from app.ui import flash, report_forms, report_schedules
from app.ui.access import can, read_only_note
from app.ui.navigation import via_entry_script
from app.ui.report_results import JOBS, render_report
from app.ui.report_sources import choose_source
from app.ui.resources import celery, redis_client, redis_ok_or_banner, settings
from app.ui.task_status import task_panel

via_entry_script()

st.session_state.setdefault(JOBS, [])
st.title("Reports")
st.caption(f"Reports run on **reports_queue**. Uploads up to {settings().MAX_UPLOAD_MB} MB.")
if not redis_ok_or_banner():
    st.stop()
flash.show("rep_flash")
app = celery()
configured = None

data_tab, perf_tab, sched_tab = st.tabs(["Data report", "Task performance", "Recurring reports"])
with data_tab:
    if not can("submit"):
        read_only_note()
    elif source := choose_source(redis_client()):
        configured = report_forms.data_report(app, *source)

with perf_tab:
    if can("submit"):
        report_forms.performance_report(app)
    else:
        read_only_note()

with sched_tab:
    report_schedules.entries_panel(app)
    if can("schedule_create"):
        st.subheader("Schedule the report configured in “Data report”")
        report_schedules.schedule_form(app, *(configured or (None, None)))

for job in st.session_state[JOBS]:
    with st.container(border=True):
        task_panel(job["id"], job["name"], lambda result, n=job["name"]: render_report(result, n))
