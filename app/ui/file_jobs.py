"""The File Processing page's form and submission: the files, the operations per file family (in
words), the image size, and one task per file or one batch (a chord with a summary)."""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

import streamlit as st

from app.documents import registry
from app.errors import InvalidInput
from app.files import filetypes
from app.ui import access, timing
from app.ui.resources import celery, settings
from app.ui.uploads import store_checked

JOBS = "file_jobs"
FAMILY_LABELS = MappingProxyType({"word": "Word (.docx)", "excel": "Excel (.xlsx)", "powerpoint": "PowerPoint (.pptx)",
                 "pdf": "PDF", "image": "Images"})
OPERATION_LABELS = MappingProxyType({
    "extract_text": "Extract text", "count_stats": "Count words and pages", "extract_images": "Extract images",
    "analyze": "Analyse sheets", "convert_to_csv": "Sheets to CSV", "calculate_totals": "Column totals",
    "analyze_structure": "Slide structure", "get_metadata": "Document properties",
    "get_info": "Image details", "create_thumbnail": "Thumbnail", "resize": "Resize",
})


def form() -> dict[str, Any] | None:
    """The upload form; on "Process" returns {'files', 'operations' (family -> names), 'size' [w, h],
    'batch', 'when' (`app.ui.timing.Choice`: priority, run after / run at)}, else None."""
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader("Files (.docx, .xlsx, .pptx, .pdf, images)", type=filetypes.UPLOAD_EXTENSIONS,
                                 accept_multiple_files=True)
        st.caption("Operations per kind of file")
        chosen = {}
        for family, ops in registry.OPERATIONS.items():
            chosen[family] = st.pills(FAMILY_LABELS.get(family, family), list(ops), selection_mode="multi",
                                      default=list(registry.DEFAULT_OPERATIONS[family]), key=f"ops_{family}",
                                      format_func=lambda op: OPERATION_LABELS.get(op, op)) or []
        w, h = st.columns(2)
        size = [w.number_input("Resize width (px)", 1, 10_000, 800), h.number_input("Resize height (px)", 1, 10_000, 600)]
        batch = st.checkbox("Send several files as one batch (a chord with a summary)", value=True)
        when = timing.inputs("file", celery(), settings=settings())
        if st.form_submit_button("Process", type="primary"):
            return {"files": files or [], "operations": chosen, "size": [int(v) for v in size], "batch": batch,
                    "when": when}
    return None


def submit(request: dict[str, Any]) -> None:
    """Check and store each file, then send one task per file or one batch; each job is listed first
    in the page's jobs (session state `JOBS`). Refusals are shown per file."""
    chosen, accepted = request["operations"], []
    if not request["files"]:
        st.warning("Choose at least one file.")
        return
    try:
        options = request["when"].options(celery())  # priority, countdown / eta; refused before anything is stored
    except InvalidInput as exc:
        st.error(str(exc))
        return
    for f in request["files"]:
        try:
            upload = store_checked(f, allowed_kinds=set().union(*registry.FAMILY_KINDS.values()))
        except InvalidInput as exc:
            st.error(str(exc))
            continue
        family = registry.family_of(upload.kind)
        if not chosen[family]:
            st.warning(f"{upload.stored.original_name}: choose at least one {FAMILY_LABELS[family]} operation.")
            continue
        accepted.append((upload.stored, family))
    jobs = st.session_state.setdefault(JOBS, [])
    if request["batch"] and len(accepted) > 1:
        task = celery().tasks["app.tasks.file_tasks.batch_process_files"]
        res = access.submit(task, args=[[str(s.path) for s, _ in accepted]],
                            kwargs={"operations": chosen, "names": [s.original_name for s, _ in accepted],
                                    "size": request["size"]}, **options)
        if res:
            jobs.insert(0, {"id": res.id, "name": f"Batch of {len(accepted)} files", "batch": True})
        return
    for stored, family in accepted:
        kwargs = {"size": request["size"]} if family == "image" else {}
        res = access.submit(celery().tasks[registry.TASK_NAMES[family]], args=[str(stored.path), chosen[family]],
                            kwargs=kwargs, **options)
        if res:
            jobs.insert(0, {"id": res.id, "name": stored.original_name})
