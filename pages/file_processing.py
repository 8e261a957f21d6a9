"""File Processing: upload Word, Excel, PowerPoint, PDF and image files; each goes to its task by content."""
import streamlit as st

from app.ui import file_jobs
from app.ui.access import can, read_only_note
from app.ui.file_results import render_batch, render_outputs
from app.ui.navigation import via_entry_script
from app.ui.resources import redis_ok_or_banner, settings
from app.ui.task_status import task_panel

via_entry_script()

st.session_state.setdefault(file_jobs.JOBS, [])
st.title("File Processing")
st.caption(f"Files are processed on **file_processing_queue**; the content decides the reader, not the name. "
           f"Limit {settings().MAX_UPLOAD_MB} MB per file.")
if not redis_ok_or_banner():
    st.stop()

if not can("submit"):
    read_only_note()
elif request := file_jobs.form():
    file_jobs.submit(request)

for job in st.session_state[file_jobs.JOBS]:
    with st.container(border=True):
        if job.get("batch"):
            task_panel(job["id"], job["name"], render_batch)
        else:
            task_panel(job["id"], job["name"], lambda result, name=job["name"]: render_outputs(result, name))
