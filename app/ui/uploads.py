"""Turning Streamlit uploads into stored files, with size and type checks before anything is queued."""
from __future__ import annotations

from dataclasses import dataclass

from app.errors import InvalidInput, UnsupportedFile
from app.files import filestore, filetypes, storage
from app.files.storage import StoredFile
from config.settings import get_settings


@dataclass(frozen=True)
class CheckedUpload:
    """A stored upload with the kind its content showed (`app.files.filetypes`)."""

    stored: StoredFile
    kind: str | None


def store_upload(uploaded, allowed_kinds: set[str] | None = None) -> StoredFile:
    """Store one `st.file_uploader` file in the file store (DATA_DIR/uploads, or the S3 bucket).

    Args:
        allowed_kinds: when given, the content's detected kind (`app.files.filetypes.detect`)
            must be one of these (e.g. {"docx"}).
    Raises:
        InvalidInput (or FileTooLarge): too large, empty, or content of another kind.
    """
    s = get_settings()
    data = uploaded.getvalue()
    if allowed_kinds is not None:
        kind = filetypes.detect(data)
        if kind not in allowed_kinds:
            raise InvalidInput(f"{storage.display_name(uploaded.name)}: the content is {kind or 'unrecognised'}, "
                               f"not {' / '.join(sorted(allowed_kinds))}.")
    return filestore.current().save_upload(uploaded.name, data, s.max_upload_bytes)


def store_checked(uploaded, allowed_kinds: set[str] | frozenset[str] | None = None) -> CheckedUpload:
    """Like `store_upload`, also refusing content that contradicts the name's extension
    (``report.docx`` holding a PDF), and returning the detected kind.

    Raises:
        FileTooLarge: over MAX_UPLOAD_MB. UnsupportedFile: content of another kind than
        `allowed_kinds` or than the extension claims. InvalidInput: empty.
    """
    s = get_settings()
    data = uploaded.getvalue()
    name = storage.display_name(uploaded.name)
    if len(data) > s.max_upload_bytes or not data:
        storage.save_upload(s.DATA_DIR, uploaded.name, data, s.max_upload_bytes)  # raises the clear error
    kind = filetypes.detect(data)
    claimed = filetypes.kind_from_name(uploaded.name)
    if claimed and kind != claimed:
        raise UnsupportedFile(f"{name}: the content is {kind or 'unrecognised'}, not {claimed} as its name says.")
    if allowed_kinds is not None and kind not in allowed_kinds:
        raise InvalidInput(f"{name}: the content is {kind or 'unrecognised'}, "
                           f"not {' / '.join(sorted(allowed_kinds))}.")
    return CheckedUpload(filestore.current().save_upload(uploaded.name, data, s.max_upload_bytes), kind)
