"""The checks every document goes through before a parser opens it: kind from content, ZIP limits,
and stdlib XML parsers defused.

`require_kind` decides the file's kind from its bytes (`app.files.filetypes`), refuses a kind the
operation cannot read with a message naming both, and runs `archive_guard.check_zip` on OOXML
packages. `harden_xml` applies `defusedxml.defuse_stdlib()` once per process, so any library that
parses with the standard library (xml.etree, minidom, sax) refuses entities and external
references; openpyxl already parses with defusedxml when it is installed, and python-docx /
python-pptx parse with lxml and ``resolve_entities=False`` (their ``oxml_parser``).
"""
from __future__ import annotations

import threading
from pathlib import Path
from types import MappingProxyType

from app.errors import CorruptFile, InvalidInput, UnsupportedFile
from app.documents import archive_guard
from app.files import filetypes
from app.documents.archive_guard import ZipLimits

LABELS = MappingProxyType({"docx": "Word document (.docx)", "xlsx": "Excel workbook (.xlsx)",
                           "pptx": "PowerPoint presentation (.pptx)", "pdf": "PDF", "png": "PNG image",
                           "jpeg": "JPEG image", "gif": "GIF image", "webp": "WebP image", "bmp": "BMP image",
                           "tiff": "TIFF image", "zip": "ZIP archive",
                           "ole2": "legacy binary Office file (.doc/.xls/.ppt)",
                           "encrypted_office": "password-encrypted Office file", "text": "plain text"})
_hardened = threading.Lock()


def label(kind: str | None) -> str:
    """A readable name for a kind ("Excel workbook (.xlsx)"), or "unrecognised content"."""
    return LABELS.get(kind or "", kind or "unrecognised content")


def harden_xml() -> None:
    """Defuse the standard library's XML parsers in this process (idempotent, thread-safe: whether
    it is done is read from the standard library itself)."""
    import xml.etree.ElementTree as stdlib_etree

    import defusedxml
    import defusedxml.ElementTree

    with _hardened:
        if stdlib_etree.parse is not defusedxml.ElementTree.parse:
            defusedxml.defuse_stdlib()


def require_kind(path: Path, expected: set[str] | frozenset[str], limits: ZipLimits) -> str:
    """The content kind of `path`, which must be one of `expected`; OOXML packages are also checked
    with `archive_guard.check_zip`.

    Raises:
        UnsupportedFile: another kind (the message names what the content is), or a
            password-encrypted Office file.
        CorruptFile: a damaged ZIP where an OOXML file was expected.
        FileTooLarge / UnsafeFile: from `archive_guard.check_zip`.
    """
    kind = filetypes.detect_path(path)
    wanted = " or ".join(label(k) for k in sorted(expected))
    if kind not in expected:
        if kind == "encrypted_office" and expected & filetypes.OOXML_KINDS:
            raise UnsupportedFile("The file is password-protected (an encrypted Office package). "
                                  "Remove the password in Office (File → Info → Protect) and upload it again.")
        if kind == "zip" and expected & filetypes.OOXML_KINDS:
            archive_guard.check_zip(path, limits, label="file")  # raises CorruptFile if damaged
            raise UnsupportedFile(f"This ZIP is not a {wanted}: it has none of the Office main parts.")
        raise UnsupportedFile(f"This is not a {wanted}: the content is a {label(kind)}.")
    if kind in filetypes.OOXML_KINDS:
        archive_guard.check_zip(path, limits, label=label(kind))
    return kind


def corrupt(kind: str, exc: BaseException) -> CorruptFile:
    """A CorruptFile naming the kind and the parser's complaint (for parser errors we did not expect)."""
    return CorruptFile(f"The {label(kind)} could not be parsed ({type(exc).__name__}: {exc}). "
                       "It may be damaged; re-save it in its application and upload it again.")


def check_operations(operations: list[str] | None, allowed: tuple[str, ...]) -> list[str]:
    """`operations` without duplicates, in order.

    Raises:
        InvalidInput: none given, or one not in `allowed`.
    """
    ops = list(dict.fromkeys(operations or []))
    unknown = [op for op in ops if op not in allowed]
    if not ops or unknown:
        raise InvalidInput(f"Unknown or missing operations {unknown or ops}; choose from {list(allowed)}.")
    return ops
