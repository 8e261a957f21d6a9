"""File-processing tasks on file_processing_queue: max 2 retries, 30 s countdown.

Each task takes the ref of a stored file (never file bytes): a path under DATA_DIR, or a storage
URL / key when files live in S3 (`app.files.filestore`: downloaded to a temporary folder, outputs
uploaded and returned as storage URLs, the folder removed). It runs one service function and returns
``{'status': 'completed', 'file_path', 'operations', 'outputs': {...}}``.
The content decides the reader (`app.documents.registry`); a file of another kind fails
with UnsupportedFile. Input errors (InvalidInput and subclasses) are never retried; OSError and
ServiceUnavailable are retried (a full disk, a network filesystem hiccup, S3 unreachable).
"""
from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from celery import chord, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils import uuid

from app.errors import ConsoleError, InvalidInput, ServiceUnavailable
from app.store.clients import StoreError, redis_from_url
from app.maintenance import cleanup
from app.files import filestore, storage
from app.documents import registry
from app.tasks.base import ConsoleTask
from config.settings import get_settings

FILE_TASK_OPTIONS = MappingProxyType(dict(base=ConsoleTask, bind=True, max_retries=2, default_retry_delay=30,
                                          autoretry_for=(OSError, ServiceUnavailable), retry_backoff=30, retry_jitter=True,
                                          soft_time_limit=300, time_limit=360))
BATCH_MAX_FILES = 500


def stored_input(file_path: str) -> Path:
    """The stored file at `file_path`, confined to DATA_DIR.

    Raises:
        InvalidInput: outside DATA_DIR or missing.
    """
    return storage.existing_file(get_settings().DATA_DIR, file_path)


def _process(task, family: str, file_path: str, operations: list[str] | None, **options: Any) -> dict:
    s = get_settings()
    operations = list(operations or registry.DEFAULT_OPERATIONS[family])
    with filestore.task_files(task.request.id) as files:
        path = stored_input(files.local(file_path))
        outputs = registry.run(family, path, operations, files.output_dir(), task.progress_every(),
                               registry.Limits.from_settings(s), **options)
        return {"status": "completed", "file_path": file_path if files.is_remote_ref(file_path) else str(path),
                "operations": operations, "outputs": files.publish(outputs)}


@shared_task(**FILE_TASK_OPTIONS)
def process_word_document(self, file_path: str, operations: list[str] | None = None) -> dict:
    """Process a stored .docx: ``operations`` ⊆ extract_text, count_stats, extract_images.

    Returns ``{'status': 'completed', 'file_path', 'operations', 'outputs': {'text_file',
    'text_preview', 'stats': {words, characters, paragraphs, tables, images, headings, sections},
    'images': [paths]}}``. Raises UnsupportedFile / CorruptFile / InvalidInput
    (never retried).
    """
    return _process(self, "word", file_path, operations)


@shared_task(**FILE_TASK_OPTIONS)
def process_excel_file(self, file_path: str, operations: list[str] | None = None) -> dict:
    """Process a stored .xlsx: ``operations`` ⊆ analyze, convert_to_csv, calculate_totals.

    Outputs: ``analysis`` + ``analysis_file``, ``csv_files``, ``totals``
    (`app.documents.excel.process`).
    """
    return _process(self, "excel", file_path, operations)


@shared_task(**FILE_TASK_OPTIONS)
def process_powerpoint(self, file_path: str, operations: list[str] | None = None) -> dict:
    """Process a stored .pptx: ``operations`` ⊆ extract_text, analyze_structure.

    Outputs: ``text_file``, ``slides_file``, ``text_preview``, ``slide_count``, ``structure``
    (`app.documents.powerpoint.process`).
    """
    return _process(self, "powerpoint", file_path, operations)


@shared_task(**FILE_TASK_OPTIONS)
def process_pdf(self, file_path: str, operations: list[str] | None = None) -> dict:
    """Process a stored PDF: ``operations`` ⊆ extract_text, get_metadata.

    Outputs: ``text_file``, ``text_preview``, ``pages_with_text``, ``ocr_needed``, ``message``,
    ``metadata`` (`app.documents.pdf.process`). Parsing runs in a child process bounded by
    PDF_PARSE_TIMEOUT_S (under this task's 300 s soft time limit) and PDF_MEMORY_LIMIT_MB.
    """
    return _process(self, "pdf", file_path, operations)


@shared_task(**FILE_TASK_OPTIONS)
def process_image(self, file_path: str, operations: list[str] | None = None,
                  size: list[int] | None = None) -> dict:
    """Process a stored image: ``operations`` ⊆ get_info, create_thumbnail, resize (`size` =
    [width, height] in pixels, aspect ratio kept). Outputs: ``info``, ``thumbnail``, ``resized``,
    ``output_sizes`` (`app.documents.images.process`).
    """
    return _process(self, "image", file_path, operations, size=size)


@shared_task(base=ConsoleTask, bind=True, max_retries=2, default_retry_delay=30,
                 soft_time_limit=300, time_limit=360)
def process_batch_item(self, file_path: str, operations: dict[str, list[str]] | None = None,
                       name: str | None = None, size: list[int] | None = None) -> dict:
    """One file of a batch: the reader is chosen from the content; never fails the chord.

    Returns ``{'file_path', 'name', 'kind', 'family', 'status': 'completed'|'failed', 'error',
    'outputs'}``. Input errors and errors left after 2 retries become ``status: failed``.
    """
    entry: dict[str, Any] = {"file_path": file_path, "name": name or storage.display_name(Path(file_path).name),
                             "kind": None, "family": None, "status": "failed", "error": None, "outputs": {}}
    try:
        with filestore.task_files(None) as files:
            path = stored_input(files.local(file_path))
            entry["kind"], family = registry.detect_family(path, registry.Limits.from_settings(get_settings()))
        entry["family"] = family
        ops = (operations or {}).get(family)
        done = _process(self, family, file_path, ops, **({"size": size} if family == "image" else {}))
        entry.update(status="completed", operations=done["operations"], outputs=done["outputs"])
    except ConsoleError as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}"
    except SoftTimeLimitExceeded:
        entry["error"] = "TimeLimitExceeded: the file took longer than the task's time limit."
    except OSError as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc)
        entry["error"] = f"{type(exc).__name__}: {exc}"
    return entry


@shared_task(base=ConsoleTask, bind=True)
def summarize_batch(self, results: list[dict], batch_id: str | None = None) -> dict:
    """Chord callback: ``{'status': 'completed', 'batch_id', 'summary': {total, completed, failed,
    by_family}, 'results': [one entry per file, in submission order]}``."""
    by_family: dict[str, int] = {}
    for r in results:
        by_family[r.get("family") or "unknown"] = by_family.get(r.get("family") or "unknown", 0) + 1
    completed = sum(1 for r in results if r.get("status") == "completed")
    return {"status": "completed", "batch_id": batch_id, "results": results,
            "summary": {"total": len(results), "completed": completed, "failed": len(results) - completed,
                        "by_family": by_family}}


@shared_task(**FILE_TASK_OPTIONS)
def batch_process_files(self, file_paths: list[str], operations: dict[str, list[str]] | None = None,
                        names: list[str] | None = None, size: list[int] | None = None) -> dict:
    """Process many stored files in parallel: a chord of `process_batch_item` (one per file) with
    `summarize_batch` as its callback. `operations` maps a family (word, excel, powerpoint, pdf,
    image) to its operations; a missing family gets its defaults.

    Returns at once ``{'status': 'dispatched', 'batch_id', 'summary_task_id', 'items': [{'file_path',
    'name', 'task_id'}]}``; the summary task's result holds the per-file results.

    Raises:
        InvalidInput: no files, more than BATCH_MAX_FILES, or names not matching the files.
    """
    if not file_paths or not isinstance(file_paths, list):
        raise InvalidInput("A batch needs a list of at least one stored file path.")
    if len(file_paths) > BATCH_MAX_FILES:
        raise InvalidInput(f"A batch holds at most {BATCH_MAX_FILES} files (got {len(file_paths)}).")
    if names is not None and len(names) != len(file_paths):
        raise InvalidInput("names must have one entry per file path.")
    names = names or [storage.display_name(Path(p).name) for p in file_paths]
    items = [{"file_path": p, "name": n, "task_id": uuid()} for p, n in zip(file_paths, names)]
    header = [process_batch_item.si(i["file_path"], operations, i["name"], size).set(task_id=i["task_id"])
              for i in items]
    summary = chord(header)(summarize_batch.s(batch_id=self.request.id))
    return {"status": "dispatched", "batch_id": self.request.id, "summary_task_id": summary.id, "items": items}


@shared_task(base=ConsoleTask, bind=True, max_retries=2, default_retry_delay=30,
                 autoretry_for=(OSError, StoreError))
def cleanup_temp_files(self, retention_s: float | None = None) -> dict:
    """Remove uploads and outputs older than `retention_s` (default FILE_RETENTION_S), sparing files
    of tasks still pending or running (from the task history index). Meant for beat, hourly.

    Returns ``{'status': 'completed', 'retention_s', 'removed_uploads', 'removed_outputs',
    'freed_bytes', 'kept_in_use', 'kept_recent'}``. If Redis is unreachable nothing is deleted and
    the task is retried (it cannot tell which files are in use).
    """
    s = get_settings()
    retention = float(s.FILE_RETENTION_S if retention_s is None else retention_s)
    if retention < 0:
        raise InvalidInput("retention_s must be zero or more seconds.")
    client = redis_from_url(s.result_backend)
    try:
        protected = cleanup.active_references(client)
    finally:
        client.close()
    if self.request.id:
        protected.add(self.request.id)
    return {"status": "completed", "retention_s": retention,
            **cleanup.remove_expired(s.DATA_DIR, retention, protected)}
