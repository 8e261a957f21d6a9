"""File kind from content (magic bytes via puremagic, then the ZIP's parts for OOXML), never the name.

`detect` returns one of: docx, xlsx, pptx, pdf, png, jpeg, gif, webp, bmp, tiff, zip, ole2
(legacy or encrypted Office), csv/text, or None when unrecognised.
"""
from __future__ import annotations

import io
import zipfile

import puremagic

_OOXML_MAIN = {"word/document.xml": "docx", "xl/workbook.xml": "xlsx", "ppt/presentation.xml": "pptx"}
_MAGIC = [(b"%PDF-", "pdf"), (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"),
          (b"BM", "bmp"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"),
          (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2")]


def _ooxml_kind(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    for part, kind in _OOXML_MAIN.items():
        if part in names:
            return kind
    return "zip"


def detect(data: bytes) -> str | None:
    """The kind of `data` (see module docstring). Reads only the bytes given; raises nothing."""
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _ooxml_kind(data) or "zip"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    try:
        ext = puremagic.from_string(data[:8192])
        if ext:
            return ext.lstrip(".").lower()
    except (puremagic.PureError, ValueError):
        pass
    try:
        data[:8192].decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return None
