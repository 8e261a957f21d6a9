"""File-processing tasks (seed 003) on file_processing_queue: max 2 retries, 30 s countdown.

Each task takes the path of a file stored under DATA_DIR (never file bytes), runs one service
function and returns ``{'status': 'completed', 'file_path', 'outputs': {...}}``.
"""
from __future__ import annotations

from pathlib import Path

from app.errors import InvalidInput
from app.services import storage
from app.services.documents import word
from app.tasks.base import ConsoleTask
from config.celery_config import celery_app
from config.settings import get_settings

FILE_TASK_OPTIONS = dict(base=ConsoleTask, bind=True, max_retries=2, default_retry_delay=30,
                         autoretry_for=(OSError,), retry_backoff=30, retry_jitter=True,
                         soft_time_limit=300, time_limit=360)


def stored_input(file_path: str) -> Path:
    """The stored file at `file_path`, confined to DATA_DIR.

    Raises:
        InvalidInput: outside DATA_DIR or missing.
    """
    path = storage.confine(get_settings().DATA_DIR, file_path)
    if not path.is_file():
        raise InvalidInput(f"The stored file is missing: {path.name}. Upload it again.")
    return path


@celery_app.task(**FILE_TASK_OPTIONS)
def process_word_document(self, file_path: str, operations: list[str] | None = None) -> dict:
    """Process a stored .docx: ``operations`` ⊆ extract_text, count_stats, extract_images.

    Returns ``{'status': 'completed', 'file_path', 'operations', 'outputs': {'text_file',
    'text_preview', 'stats': {words, characters, paragraphs, tables, images, headings, sections},
    'images': [paths]}}`` (seed 003). Raises UnsupportedFile / CorruptFile / InvalidInput
    (never retried).
    """
    operations = operations or list(word.OPERATIONS)
    path = stored_input(file_path)
    out_dir = storage.output_dir(get_settings().DATA_DIR, self.request.id or "direct")
    outputs = word.process(path, operations, out_dir, on_step=self.report_progress)
    return {"status": "completed", "file_path": str(path), "operations": operations, "outputs": outputs}
