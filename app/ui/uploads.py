"""Turning Streamlit uploads into stored files, with size and type checks before anything is queued."""
from __future__ import annotations

from app.errors import InvalidInput
from app.services import storage
from app.services.storage import StoredFile
from config.settings import get_settings


def store_upload(uploaded, allowed_kinds: set[str] | None = None) -> StoredFile:
    """Store one `st.file_uploader` file under DATA_DIR/uploads.

    Args:
        allowed_kinds: when given, the content's detected kind (`app.services.filetypes.detect`)
            must be one of these (e.g. {"docx"}).
    Raises:
        InvalidInput (or FileTooLarge): too large, empty, or content of another kind.
    """
    from app.services.filetypes import detect

    s = get_settings()
    data = uploaded.getvalue()
    if allowed_kinds is not None:
        kind = detect(data)
        if kind not in allowed_kinds:
            raise InvalidInput(f"{storage.display_name(uploaded.name)}: the content is {kind or 'unrecognised'}, "
                               f"not {' / '.join(sorted(allowed_kinds))}.")
    return storage.save_upload(s.DATA_DIR, uploaded.name, data, s.max_upload_bytes)
