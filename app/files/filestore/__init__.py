"""File storage behind one interface: a local directory (DATA_DIR, the default) or an S3-compatible
bucket (FILE_STORE=s3: S3_BUCKET, S3_PREFIX, S3_ENDPOINT_URL, S3_REGION, S3_ACCESS_KEY_ID,
S3_SECRET_ACCESS_KEY), so workers on other hosts need no disk shared with the console.

A file is named by a *ref*, the string tasks receive and return (as their ``file_path=`` and
``attachments=[...]`` arguments):

- a path under DATA_DIR: works as before wherever that disk is (confined to DATA_DIR);
- a storage URL ``s3://<bucket>/<key>``: works on any host that has the S3 settings; only the
  configured bucket and prefix are accepted (the S3 counterpart of DATA_DIR confinement);
- a key relative to the store (``uploads/<uuid>.docx``): DATA_DIR/key locally, the bucket's key on S3.

Console side: `current().save_upload(...)` stores an upload and returns a `StoredFile` whose
``path`` is the ref to pass to a task (a local Path, or the storage URL as a str);
`current().open(ref)` streams a file for a download.
Worker side: `task_files(job_id)` gives a per-task workspace that downloads remote refs into a
temporary folder under the worker's own DATA_DIR (so every existing path check and hostile-file
guard applies unchanged), hands out the output folder, uploads the outputs and replaces their local
paths in the result by storage URLs (`TaskFiles.publish`), and deletes the temporary folder.
"""
from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import BinaryIO, Protocol, runtime_checkable

from app.files.filestore.workspace import TaskFiles, task_files
from app.files.storage import StoredFile

__all__ = ["FileStore", "StoredFile", "TaskFiles", "current", "from_settings", "is_url", "task_files"]


def is_url(ref) -> bool:
    """True for a storage URL (``s3://...``), False for a path or key."""
    return isinstance(ref, str) and ref.startswith("s3://")


@runtime_checkable
class FileStore(Protocol):
    """One place files live. ``kind`` is "local" or "s3"; errors are app.errors.InvalidInput for a
    ref the store refuses or cannot find, ServiceUnavailable when the storage cannot be reached."""

    kind: str

    def save_upload(self, original_name: str, content: bytes, max_bytes: int) -> StoredFile: ...

    def owns(self, ref: str) -> bool: ...

    def fetch(self, ref: str, target) -> None: ...

    def put_file(self, local_path, key: str) -> str: ...

    def open(self, ref: str) -> BinaryIO: ...

    def exists(self, ref: str) -> bool: ...

    def name_of(self, ref: str) -> str: ...


def from_settings(settings) -> FileStore:
    """The store FILE_STORE names ("local" default, or "s3")."""
    if settings.FILE_STORE == "s3":
        from app.files.filestore.s3 import S3Store

        return S3Store.from_settings(settings)
    from app.files.filestore.local import LocalStore

    return LocalStore(settings.DATA_DIR)


#: The settings `from_settings` reads: one store is built per distinct combination of their values.
STORE_SETTINGS = ("FILE_STORE", "DATA_DIR", "S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT_URL", "S3_REGION",
                  "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY")


@lru_cache(maxsize=4)
def _store_for(values: tuple) -> FileStore:
    """The store for one combination of `STORE_SETTINGS` values (in that order); built once each,
    so an S3 store's client and connection pool are shared by every caller."""
    return from_settings(SimpleNamespace(**dict(zip(STORE_SETTINGS, values))))


def current() -> FileStore:
    """The store the process-wide settings (`config.settings.get_settings`) configure: the same
    object on every call while FILE_STORE, DATA_DIR and the S3 settings stay the same (a new one
    after they change, e.g. settings reloaded in a test). Thread-safe: two threads making the very
    first call at once may each build one, after which every call gets the cached one.

    Raises:
        ServiceUnavailable / InvalidInput: as `from_settings` (an S3 store without a bucket).
    """
    from config.settings import get_settings

    s = get_settings()
    return _store_for(tuple(getattr(s, name) for name in STORE_SETTINGS))
