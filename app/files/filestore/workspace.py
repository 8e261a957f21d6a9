"""A task's file workspace: remote inputs downloaded, outputs uploaded, the temporary folder removed.

Used by the file, report, e-mail and AI tasks (`task_files(job_id)`):

    with task_files(self.request.id) as files:
        path = stored_input(files.local(file_path))     # a DATA_DIR path as before
        out_dir = files.output_dir()
        outputs = work(path, out_dir)
        return {..., "outputs": files.publish(outputs)}

Locally (FILE_STORE=local) `local` returns a path ref unchanged and `output_dir` is
``DATA_DIR/outputs/<job>`` as before; `publish` returns its argument. With S3, remote refs are
downloaded into ``DATA_DIR/uploads/.work-<uuid>/in/`` (inside DATA_DIR, so the existing confinement and
hostile-file checks run on them unchanged), outputs are written to ``.work-<uuid>/out/`` and
uploaded as ``outputs/<job>/<file>``, and every local output path in the result becomes its
``s3://`` URL. The temporary folder is deleted when the block ends, also on errors; a worker killed
mid-task leaves it for cleanup_temp_files (it removes ``uploads/*`` entries older than FILE_RETENTION_S).
"""
from __future__ import annotations

import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from app.files import storage


class TaskFiles:
    """One task's workspace on `store` (see the module docstring)."""

    def __init__(self, store, data_dir: Path, job_id: str):
        self.store, self.data_dir = store, Path(data_dir)
        self.job_id = re.sub(r"[^A-Za-z0-9-]", "", job_id or "") or uuid.uuid4().hex
        self._tmp: Path | None = None
        self._out: Path | None = None

    @property
    def remote(self) -> bool:
        return self.store.kind != "local"

    def _tmp_dir(self) -> Path:
        if self._tmp is None:
            # Under uploads/ so the stored-file checks (storage.existing_file's file areas) accept it.
            self._tmp = (self.data_dir / "uploads" / f".work-{uuid.uuid4().hex}").resolve()
            self._tmp.mkdir(parents=True)
        return self._tmp

    def is_remote_ref(self, ref) -> bool:
        """True when `ref` names a file in the remote store (an s3:// URL, or a key on S3)."""
        ref = str(ref)
        if ref.startswith("s3://"):
            return True
        return self.remote and not Path(ref).is_absolute()

    def local(self, ref) -> str:
        """A local path for `ref`: a path ref as it is (the caller confines it as before); a remote
        ref downloaded into the workspace.

        Raises:
            InvalidInput: the store refuses the ref (other bucket, outside the prefix) or the
                object is missing; NotConfigured-like InvalidInput for s3:// without FILE_STORE=s3.
            ServiceUnavailable: the storage cannot be reached (tasks retry it).
        """
        if not self.is_remote_ref(ref):
            return str(ref)
        name = storage.display_name(self.store.name_of(str(ref)))
        folder = self._tmp_dir() / "in" / uuid.uuid4().hex[:8]
        folder.mkdir(parents=True)
        target = folder / name
        self.store.fetch(str(ref), target)
        return str(target)

    def local_attachment(self, item):
        """An e-mail attachment item (a ref, or ``{'path', 'filename'}``) with its ref made local;
        the attachment keeps the stored file's name unless the item names it."""
        if isinstance(item, dict):
            path = item.get("path")
            if not path or not self.is_remote_ref(path):
                return item
            return {**item, "path": self.local(path), "filename": item.get("filename") or self.store.name_of(str(path))}
        return self.local(item) if item and self.is_remote_ref(item) else item

    def output_dir(self) -> Path:
        """Where this task writes its outputs (created)."""
        if self._out is None:
            if self.remote:
                self._out = self._tmp_dir() / "out" / self.job_id
                self._out.mkdir(parents=True)
            else:
                self._out = storage.output_dir(self.data_dir, self.job_id)
        return self._out

    def publish(self, value: Any) -> Any:
        """Upload every file of the output folder (S3) and return `value` with each local output
        path (a str equal to such a file's path, at any depth of dicts and lists) replaced by its
        storage URL. Locally: `value` unchanged."""
        if not self.remote or self._out is None or not self._out.is_dir():
            return value
        urls: dict[str, str] = {}
        for path in sorted(p for p in self._out.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = PurePosixPath(*path.relative_to(self._out).parts)
            urls[str(path)] = self.store.put_file(path, f"outputs/{self.job_id}/{rel}")
        return _replace(value, urls)

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _replace(value: Any, urls: dict[str, str]) -> Any:
    if isinstance(value, str):
        return urls.get(value, urls.get(str(Path(value).resolve()) if value.startswith("/") else value, value))
    if isinstance(value, dict):
        return {k: _replace(v, urls) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_replace(v, urls) for v in value)
    return value


@contextmanager
def task_files(job_id: str | None, store=None, data_dir: Path | None = None) -> Iterator[TaskFiles]:
    """A `TaskFiles` on the configured store and DATA_DIR (or the given ones), cleaned up on exit."""
    from config.settings import get_settings

    if store is None:
        from app.files.filestore import current

        store = current()
    files = TaskFiles(store, data_dir or get_settings().DATA_DIR, job_id or "direct")
    try:
        yield files
    finally:
        files.close()
