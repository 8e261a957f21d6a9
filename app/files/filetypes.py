"""File kind from content (magic bytes via puremagic, then the ZIP's parts for OOXML), never the name.

`detect` returns one of: docx, xlsx, pptx, pdf, png, jpeg, gif, webp, bmp, tiff, zip, ole2
(legacy binary Office), encrypted_office (a password-encrypted OOXML file, which Office stores in
an OLE2/CFB container with ``EncryptionInfo`` and ``EncryptedPackage`` streams, MS-OFFCRYPTO
§2.3.4), csv/text, or None when unrecognised. `detect_path` does the same from a stored file
without reading it whole. `kind_from_name` maps a client's extension to the kind it claims, so a
mismatch can be reported.
"""
from __future__ import annotations

import io
from types import MappingProxyType
import zipfile
from pathlib import Path

import puremagic

HEAD_BYTES = 8192
OOXML_KINDS = frozenset({"docx", "xlsx", "pptx"})
IMAGE_KINDS = frozenset({"png", "jpeg", "gif", "webp", "bmp", "tiff"})
_OOXML_MAIN = MappingProxyType({"word/document.xml": "docx", "xl/workbook.xml": "xlsx", "ppt/presentation.xml": "pptx"})
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_MAGIC = ((b"%PDF-", "pdf"), (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"),
          (b"BM", "bmp"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (_OLE2, "ole2"))
_EXTENSIONS = MappingProxyType({".docx": "docx", ".xlsx": "xlsx", ".xlsm": "xlsx", ".pptx": "pptx", ".pdf": "pdf",
                                ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp",
                                ".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff"})
#: Extensions offered in the upload widget (the content still decides the kind).
UPLOAD_EXTENSIONS = sorted(e.lstrip(".") for e in _EXTENSIONS)


def _zip_kind(zf: zipfile.ZipFile) -> str:
    names = set(zf.namelist())
    for part, kind in _OOXML_MAIN.items():
        if part in names:
            return kind
    return "zip"


def _ooxml_kind(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return _zip_kind(z)
    except (zipfile.BadZipFile, ValueError, OSError):
        return None


def _from_head(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    try:
        ext = puremagic.from_string(head[:HEAD_BYTES])
        if ext:
            return ext.lstrip(".").lower()
    except (puremagic.PureError, ValueError):
        pass
    try:
        head[:HEAD_BYTES].decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return None


def detect(data: bytes) -> str | None:
    """The kind of `data` (see module docstring). Reads only the bytes given; raises nothing."""
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _ooxml_kind(data) or "zip"
    if data.startswith(_OLE2):
        return "encrypted_office" if _ENCRYPTED_STREAM in data else "ole2"
    return _from_head(data)


def detect_path(path: Path) -> str | None:
    """The kind of the file at `path` (same kinds as `detect`); reads its head and, for a ZIP,
    its central directory only. Raises OSError if the file cannot be read."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
            try:
                with zipfile.ZipFile(fh) as z:
                    return _zip_kind(z)
            except (zipfile.BadZipFile, ValueError, OSError):
                return "zip"
        if head.startswith(_OLE2):
            fh.seek(0)
            return "encrypted_office" if _ENCRYPTED_STREAM in fh.read() else "ole2"
    return _from_head(head)


def kind_from_name(name: str) -> str | None:
    """The kind a client's file name claims by its extension (``report.XLSX`` → xlsx), or None."""
    return _EXTENSIONS.get(Path(name or "").suffix.lower())
