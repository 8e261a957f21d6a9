"""File Processing: upload Word, Excel, PowerPoint, PDF and image files; each goes to its task by content."""
import streamlit as st

from app.errors import InvalidInput
from app.files import filetypes
from app.documents import registry
from app.ui import access, timing
from app.ui.access import can, read_only_note
from app.ui.file_results import render_batch, render_outputs
from app.ui.resources import celery, redis_ok_or_banner, settings
from app.ui.task_status import task_panel
from app.ui.uploads import store_checked
from app.ui.navigation import via_entry_script

via_entry_script()

st.session_state.setdefault("file_jobs", [])
st.title("File Processing")
st.caption(f"Files are processed on **file_processing_queue**; the content decides the reader, not the name. "
           f"Limit {settings().MAX_UPLOAD_MB} MB per file.")
if not redis_ok_or_banner():
    st.stop()

if not can("submit"):
    read_only_note()
    submitted = False
else:
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader("Files (.docx, .xlsx, .pptx, .pdf, images)", type=filetypes.UPLOAD_EXTENSIONS,
                                 accept_multiple_files=True)
        chosen = {}
        for col, family in zip(st.columns(len(registry.OPERATIONS)), registry.OPERATIONS):
            chosen[family] = col.multiselect(family.title(), registry.OPERATIONS[family],
                                             default=list(registry.DEFAULT_OPERATIONS[family]), key=f"ops_{family}")
        w, h = st.columns(2)
        size = [w.number_input("Resize width (px)", 1, 10_000, 800), h.number_input("Resize height (px)", 1, 10_000, 600)]
        as_batch = st.checkbox("Send several files as one batch (a chord with a summary)", value=True)
        when = timing.inputs("file", celery(), settings=settings())
        submitted = st.form_submit_button("Process", type="primary")

options = None
if submitted:
    try:
        options = when.options(celery())
    except InvalidInput as exc:
        st.error(str(exc))
        submitted = False
if submitted:
    accepted = []
    for f in files or []:
        try:
            upload = store_checked(f, allowed_kinds=set().union(*registry.FAMILY_KINDS.values()))
        except InvalidInput as exc:
            st.error(str(exc))
            continue
        family = registry.family_of(upload.kind)
        if not chosen[family]:
            st.warning(f"{upload.stored.original_name}: choose at least one {family} operation.")
            continue
        accepted.append((upload.stored, family))
    if not files:
        st.warning("Choose at least one file.")
    elif as_batch and len(accepted) > 1:
        task = celery().tasks["app.tasks.file_tasks.batch_process_files"]
        res = access.submit(task, args=[[str(s.path) for s, _ in accepted]],
                            kwargs={"operations": chosen, "names": [s.original_name for s, _ in accepted],
                                    "size": [int(v) for v in size]}, **options)
        if res:
            st.session_state.file_jobs.insert(0, {"id": res.id, "name": f"Batch of {len(accepted)} files", "batch": True})
    else:
        for stored, family in accepted:
            kwargs = {"size": [int(v) for v in size]} if family == "image" else {}
            res = access.submit(celery().tasks[registry.TASK_NAMES[family]],
                                args=[str(stored.path), chosen[family]], kwargs=kwargs, **options)
            if res:
                st.session_state.file_jobs.insert(0, {"id": res.id, "name": stored.original_name})

for job in st.session_state.file_jobs:
    with st.container(border=True):
        task_panel(job["id"], job["name"], render_batch if job.get("batch") else render_outputs)
