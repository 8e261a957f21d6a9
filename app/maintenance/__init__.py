"""The work behind the maintenance tasks: results past retention, failed-task leftovers,
archiving old outputs, and the extra health facts (beat alive, SMTP/AI configured).

Every function is idempotent: a second run finds nothing left to do and changes nothing. Running
two at once is prevented by the tasks' locks (`app.store.locks`), not here.
"""
from __future__ import annotations

import logging
import os
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.store import history, results

log = logging.getLogger(__name__)

CHUNK = 1_000


def cleanup_old_results(client, retention_s: float, max_tasks: int,
                        result_key: Callable[[str], str], now: float | None = None) -> dict[str, int]:
    """Remove tasks first seen more than `retention_s` ago (or beyond the newest `max_tasks`).

    For each such task: its Celery result key (``result_key(task_id)``, normally already expired
    by result_expires) and its history entry in every index (`app.store.history.trim`).

    Returns ``{'removed': tasks dropped from the history, 'results_removed': result keys deleted}``.
    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    now = time.time() if now is None else now
    cutoff = now - retention_s
    results_removed = 0
    for ids in history.ids_first_seen_before(client, cutoff, CHUNK):
        results_removed += results.delete(client, [result_key(tid) for tid in ids])
    removed = history.trim(client, retention_s, max_tasks, now=now)
    return {"removed": removed, "results_removed": results_removed}


def cleanup_failed_tasks(client, data_dir: Path, older_than_s: float,
                         result_key: Callable[[str], str], now: float | None = None) -> dict[str, int]:
    """Remove the leftovers of tasks that failed more than `older_than_s` ago.

    A failed job's partial outputs (``DATA_DIR/outputs/<task id>/``) are unusable, and its Celery
    result duplicates what the task history keeps (exception, traceback), so both go; the history
    entry itself stays for HISTORY_RETENTION_S so the monitor can still show the failure. Failures
    are taken from the FAILURE index past the watermark ``cc:failed:cleaned_until``, so each run
    only looks at failures it has not seen.

    Returns ``{'examined', 'outputs_removed', 'bytes_freed', 'results_removed'}``.
    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    now = time.time() if now is None else now
    cutoff = now - older_than_s
    since = history.failed_cleaned_until(client)
    outputs_root = (Path(data_dir) / "outputs").resolve()
    examined = outputs_removed = bytes_freed = results_removed = 0
    for ids in history.ids_entered(client, "FAILURE", since, cutoff, CHUNK):
        examined += len(ids)
        for tid in ids:
            folder = outputs_root / "".join(c for c in tid if c.isalnum() or c == "-")
            if folder.is_dir() and not folder.is_symlink() and folder.parent == outputs_root:
                bytes_freed += _size_bytes(folder)
                shutil.rmtree(folder)
                outputs_removed += 1
        results_removed += results.delete(client, [result_key(tid) for tid in ids])
    history.set_failed_cleaned_until(client, cutoff if since is None else max(cutoff, since))
    return {"examined": examined, "outputs_removed": outputs_removed, "bytes_freed": bytes_freed,
            "results_removed": results_removed}


def archive_old_outputs(data_dir: Path, older_than_s: float, protected: set[str] = frozenset(),
                        now: float | None = None) -> dict[str, Any]:
    """Move each output folder (``DATA_DIR/outputs/<job>/``) untouched for `older_than_s` into
    ``DATA_DIR/archive/outputs/<job>.tar.gz`` and remove the folder.

    "Untouched" means its newest file (or the folder itself) was modified before the cutoff, so a
    job still writing is never archived; folders named in `protected` (ids of unfinished tasks,
    `app.maintenance.cleanup.active_references`) are never archived either. The archive is written under a temporary name, read back
    (member count must match) and renamed into place before the folder is removed: a crash leaves
    either the folder or a complete archive, never neither. An existing archive of the same name is
    never overwritten (the new one gets a ``.<n>`` suffix).

    Returns ``{'archived': [job names], 'files': n, 'bytes_archived': source bytes, 'kept': n}``.
    Raises:
        OSError: the disk is full or a folder cannot be read.
    """
    now = time.time() if now is None else now
    cutoff = now - older_than_s
    outputs = Path(data_dir) / "outputs"
    target_dir = Path(data_dir) / "archive" / "outputs"
    archived: list[str] = []
    files = bytes_archived = kept = 0
    if not outputs.is_dir():
        return {"archived": [], "files": 0, "bytes_archived": 0, "kept": 0}
    for entry in sorted(outputs.iterdir()):
        if entry.is_symlink() or not entry.is_dir():
            continue
        if entry.name in protected or _newest_mtime(entry) >= cutoff:
            kept += 1
            continue
        target_dir.mkdir(parents=True, exist_ok=True)
        members = [p for p in sorted(entry.rglob("*")) if not p.is_symlink()]
        target = _free_name(target_dir, entry.name)
        tmp = target.with_name(f".{target.name}.part")
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(entry, arcname=entry.name, recursive=False)
            for p in members:
                tar.add(p, arcname=str(Path(entry.name) / p.relative_to(entry)), recursive=False)
        with tarfile.open(tmp, "r:gz") as tar:
            if len(tar.getmembers()) != len(members) + 1:
                tmp.unlink()
                raise OSError(f"archive of {entry.name} did not read back complete; folder kept")
        os.replace(tmp, target)
        n_files = sum(1 for p in members if p.is_file())
        size = _size_bytes(entry)
        shutil.rmtree(entry)
        archived.append(entry.name)
        files += n_files
        bytes_archived += size
        log.info("archived outputs/%s (%d files, %d bytes) to %s", entry.name, n_files, size, target.name)
    return {"archived": archived, "files": files, "bytes_archived": bytes_archived, "kept": kept}


def beat_status(client, lock_key: str) -> dict[str, Any]:
    """Whether a beat is running: RedBeat's lock is held (beat extends it on every tick and it
    expires 5 ticks after beat stops). Returns ``{'ok': bool, 'lock_ttl_s': float | None}``."""
    ttl_ms = client.pttl(lock_key)
    alive = ttl_ms is not None and ttl_ms > 0
    return {"ok": alive, "lock_ttl_s": round(ttl_ms / 1000, 1) if alive else None}


def features_configured(settings) -> dict[str, Any]:
    """SMTP and AI configuration as facts safe to show (never a password or key).

    Returns ``{'smtp': {'configured', 'host', 'port'}, 'ai': {'anthropic': bool, 'openai': bool}}``;
    with SMTP_HOST unset, mail goes to the development sink (SMTP_SINK_HOST/PORT) when it runs.
    """
    smtp_host = settings.SMTP_HOST
    return {
        "smtp": {"configured": bool(smtp_host),
                 "host": smtp_host or getattr(settings, "SMTP_SINK_HOST", None),
                 "port": settings.SMTP_PORT if smtp_host else getattr(settings, "SMTP_SINK_PORT", None)},
        "ai": {"anthropic": settings.ANTHROPIC_API_KEY is not None,
               "openai": settings.OPENAI_API_KEY is not None},
    }


def _newest_mtime(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for root, dirs, names in os.walk(folder):
        for n in dirs + names:
            try:
                newest = max(newest, os.lstat(os.path.join(root, n)).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _size_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _free_name(folder: Path, stem: str) -> Path:
    target = folder / f"{stem}.tar.gz"
    n = 1
    while target.exists():
        target = folder / f"{stem}.{n}.tar.gz"
        n += 1
    return target
