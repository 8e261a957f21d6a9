"""File Processing: upload documents, pick operations, watch each task run, get the outputs."""
import streamlit as st

from app.errors import InvalidInput
from app.ui.file_results import render_outputs
from app.ui.resources import celery, redis_ok_or_banner, settings
from app.ui.task_status import task_panel
from app.ui.uploads import store_upload

st.session_state.setdefault("file_jobs", [])
st.title("File Processing")
st.caption(f"Word documents are processed on **file_processing_queue**. Limit {settings().MAX_UPLOAD_MB} MB per file.")
if not redis_ok_or_banner():
    st.stop()

with st.form("upload", clear_on_submit=True):
    files = st.file_uploader("Documents (.docx)", type=["docx"], accept_multiple_files=True)
    operations = st.multiselect("Operations", ["extract_text", "count_stats", "extract_images"],
                                default=["extract_text", "count_stats", "extract_images"])
    submitted = st.form_submit_button("Process", type="primary")

if submitted:
    if not files:
        st.warning("Choose at least one .docx file.")
    elif not operations:
        st.warning("Choose at least one operation.")
    task = celery().tasks["app.tasks.file_tasks.process_word_document"]
    for f in (files or []) if operations else []:
        try:
            stored = store_upload(f, allowed_kinds={"docx"})
        except InvalidInput as exc:
            st.error(str(exc))
            continue
        result = task.apply_async(args=[str(stored.path), operations])
        st.session_state.file_jobs.insert(0, {"id": result.id, "name": stored.original_name})

for job in st.session_state.file_jobs:
    with st.container(border=True):
        task_panel(job["id"], job["name"], render_outputs)
