"""Where uploads and task outputs live under DATA_DIR, with server-chosen names.

Client file names never become paths: an upload is stored as ``uploads/<uuid4 hex><.ext>`` where
the extension is taken from a short allow-list, and the original name is kept only as metadata
(`StoredFile.original_name`). Outputs of a task go to ``outputs/<job id>/``. `confine` refuses any
path that resolves outside DATA_DIR's file areas, ``uploads/`` and ``outputs/`` (symlinks included):
a task argument can never name the embedded Redis data, the secrets, the outbox or anything else.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.errors import FileTooLarge, InvalidInput

#: Extensions kept on stored uploads (lower-case, with dot). Others are stored without extension.
KNOWN_EXTENSIONS = frozenset({".docx", ".xlsx", ".pptx", ".pdf", ".png", ".jpg", ".jpeg", ".gif",
                              ".webp", ".bmp", ".tif", ".tiff", ".csv", ".json", ".txt"})
_SAFE_NAME_RE = re.compile(r"[^\w.\- ]+")
#: The only folders under DATA_DIR that task arguments and downloads may name.
FILE_AREAS = ("uploads", "outputs")


@dataclass(frozen=True)
class StoredFile:
    """A stored upload: `path` (absolute), the client's `original_name` (display only), size."""

    path: Path
    original_name: str
    size_bytes: int


def display_name(name: str, limit: int = 120) -> str:
    """The client's file name reduced to safe display/download text (no path parts, NUL, markup)."""
    base = re.split(r"[\\/]", name or "")[-1].replace("\x00", "")
    cleaned = _SAFE_NAME_RE.sub("_", base).strip(" .") or "file"
    return cleaned[:limit]


def confine(data_dir: Path, path: str | Path) -> Path:
    """Resolve `path` and make sure it lies inside `data_dir`.

    Raises:
        InvalidInput: the path resolves outside DATA_DIR (``..``, absolute elsewhere, symlink).
    """
    root = Path(data_dir).resolve()
    resolved = Path(path).resolve()
    if resolved != root and root not in resolved.parents:
        raise InvalidInput(f"Path is outside the data directory: {display_name(str(path))}")
    areas = [root / a for a in FILE_AREAS]
    if not any(resolved == a or a in resolved.parents for a in areas):
        raise InvalidInput(f"Path is not in the uploads or outputs folder: {display_name(str(path))}")
    return resolved


def existing_file(data_dir: Path, path: str | Path,
                  missing: str = "The stored file is missing: {name}. Upload it again.") -> Path:
    """`path` resolved, inside `data_dir` and an existing regular file: the one check every task
    makes before reading a stored file.

    Args:
        missing: the message when the file is not there; ``{name}`` is its base name.
    Raises:
        InvalidInput: outside DATA_DIR (see `confine`) or no such file.
    """
    resolved = confine(data_dir, path)
    if not resolved.is_file():
        raise InvalidInput(missing.format(name=resolved.name))
    return resolved


def upload_name(original_name: str, content: bytes, max_bytes: int) -> str:
    """A fresh server-chosen file name for an upload (uuid hex + its extension when known), after
    the checks every file store makes before storing anything.

    Raises:
        FileTooLarge: `content` is over `max_bytes` (MAX_UPLOAD_MB).
        InvalidInput: `content` is empty.
    """
    if len(content) > max_bytes:
        raise FileTooLarge(f"{display_name(original_name)} is {len(content) / 1e6:.1f} MB; "
                           f"the limit is {max_bytes / 1024 / 1024:.0f} MB (MAX_UPLOAD_MB).")
    if not content:
        raise InvalidInput(f"{display_name(original_name)} is empty.")
    ext = Path(display_name(original_name)).suffix.lower()
    return f"{uuid.uuid4().hex}{ext if ext in KNOWN_EXTENSIONS else ''}"


def save_upload(data_dir: Path, original_name: str, content: bytes, max_bytes: int) -> StoredFile:
    """Store `content` under ``<data_dir>/uploads`` with a fresh name.

    Raises:
        FileTooLarge: `content` is over `max_bytes` (MAX_UPLOAD_MB).
        InvalidInput: `content` is empty.
    """
    uploads = Path(data_dir) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    path = uploads / upload_name(original_name, content, max_bytes)
    path.write_bytes(content)
    return StoredFile(path=path.resolve(), original_name=display_name(original_name),
                      size_bytes=len(content))


def output_dir(data_dir: Path, job_id: str) -> Path:
    """A fresh folder ``<data_dir>/outputs/<job_id>`` for one task's outputs (created)."""
    safe = re.sub(r"[^A-Za-z0-9-]", "", job_id) or uuid.uuid4().hex
    folder = Path(data_dir) / "outputs" / safe
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()
