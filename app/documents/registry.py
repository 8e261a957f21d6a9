"""Which reader handles which content kind, with its operations and the limits it runs under.

Families: word (docx), excel (xlsx), powerpoint (pptx), pdf, image (png, jpeg, gif, webp, bmp,
tiff). `run` checks the file's content kind (`intake.require_kind`, which also applies the ZIP
limits) and calls the family's ``process``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from app.errors import UnsupportedFile
from app.documents import archive_guard
from app.files import filetypes
from app.documents.archive_guard import ZipLimits
from app.documents import excel, images, intake, pdf, powerpoint, word

FAMILY_KINDS: Mapping[str, frozenset[str]] = MappingProxyType({
    "word": frozenset({"docx"}), "excel": frozenset({"xlsx"}), "powerpoint": frozenset({"pptx"}),
    "pdf": frozenset({"pdf"}), "image": filetypes.IMAGE_KINDS,
})
OPERATIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "word": word.OPERATIONS, "excel": excel.OPERATIONS, "powerpoint": powerpoint.OPERATIONS,
    "pdf": pdf.OPERATIONS, "image": images.OPERATIONS,
})
#: Operations run when none are given (resize needs a size, so images default to info + thumbnail).
DEFAULT_OPERATIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {**OPERATIONS, "image": ("get_info", "create_thumbnail")})
TASK_NAMES = MappingProxyType({
    "word": "app.tasks.file_tasks.process_word_document", "excel": "app.tasks.file_tasks.process_excel_file",
    "powerpoint": "app.tasks.file_tasks.process_powerpoint", "pdf": "app.tasks.file_tasks.process_pdf",
    "image": "app.tasks.file_tasks.process_image",
})


@dataclass(frozen=True)
class Limits:
    """Limits the readers run under (settings: ZIP_*, IMAGE_MAX_PIXELS, THUMBNAIL_MAX_PX, PDF_*)."""

    zip: ZipLimits = field(default_factory=ZipLimits)
    max_pixels: int = 89_478_485
    thumbnail_px: int = 256
    pdf_timeout_s: float = 240.0
    pdf_memory_limit_bytes: int = 1_536 * 1024 * 1024

    @classmethod
    def from_settings(cls, s) -> "Limits":
        return cls(ZipLimits.from_settings(s), s.IMAGE_MAX_PIXELS, s.THUMBNAIL_MAX_PX,
                   s.PDF_PARSE_TIMEOUT_S, s.PDF_MEMORY_LIMIT_MB * 1024 * 1024)


def family_of(kind: str | None) -> str | None:
    """The family that reads `kind` (e.g. "jpeg" → "image"), or None."""
    return next((f for f, kinds in FAMILY_KINDS.items() if kind in kinds), None)


def detect_family(path: Path, limits: Limits | None = None) -> tuple[str, str]:
    """``(kind, family)`` of a stored file from its content.

    Raises:
        UnsupportedFile: no family reads this content (the message names what it is).
        CorruptFile: a damaged ZIP (e.g. a truncated .docx).
    """
    kind = filetypes.detect_path(path)
    family = family_of(kind)
    if family is None:
        if kind == "zip":
            archive_guard.check_zip(path, (limits or Limits()).zip, label="file")  # damaged → CorruptFile
        if kind == "encrypted_office":
            raise UnsupportedFile("The file is password-protected (an encrypted Office package). "
                                  "Remove the password in Office and upload it again.")
        raise UnsupportedFile(f"Files of this kind cannot be processed: the content is a {intake.label(kind)}.")
    return kind, family


def run(family: str, path: Path, operations: list[str], out_dir: Path,
        on_step: Callable[..., None] | None, limits: Limits, **options: Any) -> dict[str, Any]:
    """Check `path` is of `family` and run `operations` on it; returns the family's outputs dict.

    Raises:
        InvalidInput and subclasses: see `intake.require_kind` and each family's ``process``.
    """
    intake.require_kind(path, FAMILY_KINDS[family], limits.zip)
    if family == "word":
        return word.process(path, operations, out_dir, on_step=on_step)
    if family == "excel":
        return excel.process(path, operations, out_dir, on_step=on_step)
    if family == "powerpoint":
        return powerpoint.process(path, operations, out_dir, on_step=on_step)
    if family == "pdf":
        return pdf.process(path, operations, out_dir, on_step=on_step, timeout_s=limits.pdf_timeout_s,
                           memory_limit_bytes=limits.pdf_memory_limit_bytes)
    return images.process(path, operations, out_dir, on_step=on_step, max_pixels=limits.max_pixels,
                          thumbnail_px=limits.thumbnail_px, size=options.get("size"))
