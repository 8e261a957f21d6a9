"""The Task Monitor's two "try it" buttons: a health check and a document job on a generated .docx."""
from __future__ import annotations

import streamlit as st

from app.documents.samples import make_sample_docx
from app.files import filestore, storage
from app.ui import access
from app.ui.access import can
from app.ui.resources import celery, settings

HEALTH_CHECK = "app.tasks.maintenance_tasks.health_check"
WORD_DOCUMENT = "app.tasks.file_tasks.process_word_document"


def buttons() -> None:
    """Two buttons (for roles that may submit); each sends its task and toasts the new id."""
    if not can("submit"):
        return
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Send health check", help="health_check → default_queue"):
        if r := access.submit(celery().tasks[HEALTH_CHECK]):
            st.toast(f"Health check sent: {r.id}")
    if b2.button("Send document job", help="process_word_document on a generated .docx → file_processing_queue"):
        path = make_sample_docx(storage.output_dir(settings().DATA_DIR, "samples") / "sample.docx")
        stored = filestore.current().save_upload("sample.docx", path.read_bytes(), settings().max_upload_bytes)
        if r := access.submit(celery().tasks[WORD_DOCUMENT],
                              args=[str(stored.path), ["extract_text", "count_stats", "extract_images"]]):
            st.toast(f"Document job sent: {r.id}")
