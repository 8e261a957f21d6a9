"""Removal of old uploads and task outputs under DATA_DIR, sparing files of unfinished tasks.

What counts as in use comes from the task history (`app.store.history.active_tasks`): every task
now waiting or running (SENT, RECEIVED, STARTED, PROGRESS or RETRY) protects ``outputs/<its id>/`` and every upload whose stored name (a uuid4 hex,
`app.files.storage.save_upload`) appears in its args or kwargs.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from app.store import history

_TOKEN_RE = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def active_references(client) -> set[str]:
    """Task ids of unfinished tasks plus the upload names (uuid hex) their arguments mention.

    Raises redis.RedisError when Redis is unreachable (the caller must then not delete anything).
    """
    refs: set[str] = set()
    for tid, values in history.active_tasks(client, ("args", "kwargs")):
        refs.add(tid)
        refs.update(_TOKEN_RE.findall(f"{values['args'] or ''} {values['kwargs'] or ''}"))
    return refs


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for child in path.rglob("*"):
            try:
                newest = max(newest, child.lstat().st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return path.lstat().st_size


def remove_expired(data_dir: Path, retention_s: float, protected: set[str],
                   now: float | None = None) -> dict[str, Any]:
    """Delete ``uploads/*`` files, ``outputs/*`` and ``tmp/*`` folders untouched for `retention_s` seconds.

    An upload is kept when its stem is in `protected`; an output folder when its name (a task id)
    is. Symlinks are removed as links, never followed.

    Returns ``{'removed_uploads', 'removed_outputs', 'removed_tmp', 'freed_bytes', 'kept_in_use', 'kept_recent'}``.
    """
    now = time.time() if now is None else now
    cutoff = now - retention_s
    stats = {"removed_uploads": 0, "removed_outputs": 0, "removed_tmp": 0, "freed_bytes": 0, "kept_in_use": 0,
             "kept_recent": 0}
    # tmp/: task workspaces of the file store (app.files.filestore.workspace) left by a killed worker.
    for sub, counter in (("uploads", "removed_uploads"), ("outputs", "removed_outputs"), ("tmp", "removed_tmp")):
        folder = Path(data_dir) / sub
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            try:
                key = entry.name if sub == "outputs" else entry.name.split(".", 1)[0]
                if key in protected:
                    stats["kept_in_use"] += 1
                    continue
                if _newest_mtime(entry) > cutoff:
                    stats["kept_recent"] += 1
                    continue
                size = _size(entry)
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except FileNotFoundError:
                continue  # removed concurrently
            stats[counter] += 1
            stats["freed_bytes"] += size
    return stats
