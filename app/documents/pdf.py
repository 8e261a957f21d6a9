"""PDF processing with pypdf, run in a bounded child process (`app.documents.bounded`).

Operations (the `process_pdf` task): ``extract_text`` (per page, into one UTF-8 file with page
markers) and ``get_metadata`` (title, author, subject, creator, producer, dates, page count, PDF
version, encryption). Special cases get a specific message instead of empty text:

- encrypted with a user password: refused as password-protected (we take no passwords: they would
  travel in task arguments). A file encrypted with an *empty* user password (owner-password-only,
  e.g. "no printing" restrictions) opens without a password, so it is processed normally and its
  metadata says ``encryption: "owner password only"``.
- no text layer on any page but images present: ``ocr_needed: True`` and a message saying that OCR
  is needed (a scanned document).

Parsing runs in a child process with PDF_PARSE_TIMEOUT_S and PDF_MEMORY_LIMIT_MB, so a malformed
file (truncated, circular xref, absurd stream lengths) ends in a CorruptFile, not a hung worker.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.errors import CorruptFile, UnsupportedFile
from app.documents import bounded
from app.documents import intake

OPERATIONS = ("extract_text", "get_metadata")
PREVIEW_CHARS = 2_000
OCR_MESSAGE = ("This PDF has no text layer (it is a scanned image), so no text could be extracted: "
               "OCR is needed to get its text.")
NO_TEXT_MESSAGE = "This PDF has no extractable text on any page."


def process(path: Path, operations: list[str], out_dir: Path,
            on_step: Callable[[int, int, str], None] | None = None, *,
            timeout_s: float = 240.0, memory_limit_bytes: int = 1_536 * 1024 * 1024) -> dict[str, Any]:
    """Run `operations` on the PDF at `path` (already checked by `intake.require_kind`).

    Returns (keys for the operations run): ``text_file``, ``text_preview``, ``pages_with_text``,
    ``ocr_needed``, ``message`` (None or the OCR / no-text message) for extract_text; ``metadata``
    ({title, author, subject, creator, producer, creation_date, modification_date, pages,
    pdf_version, encrypted, encryption}) for get_metadata.

    Raises:
        InvalidInput: unknown or missing operations.
        UnsupportedFile: password-protected (a user password is needed).
        CorruptFile: pypdf cannot read it, or reading took longer than `timeout_s`.
        FileTooLarge: reading needed more than `memory_limit_bytes`.
    """
    ops = intake.check_operations(operations, OPERATIONS)
    payload = {"path": str(path), "operations": ops, "out_dir": str(out_dir)}
    return bounded.run(__name__, payload, timeout_s, memory_limit_bytes, on_progress=on_step, what="PDF")


def _image_count(page) -> int:
    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        if xobjects is None:
            return 0
        xobjects = xobjects.get_object()
        return sum(1 for name in xobjects if xobjects[name].get_object().get("/Subtype") == "/Image")
    except Exception:  # noqa: BLE001 - a broken resource dictionary just counts as no images
        return 0


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def read(payload: dict[str, Any], progress: Callable[[int, int, str], None]) -> dict[str, Any]:
    """The child side: open with pypdf and run the operations (see `process`)."""
    import pypdf
    from pypdf import PasswordType
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    path, ops, out_dir = Path(payload["path"]), payload["operations"], Path(payload["out_dir"])
    try:
        reader = pypdf.PdfReader(path, strict=False)
        encryption = None
        if reader.is_encrypted:
            try:
                kind = reader.decrypt("")
            except NotImplementedError as exc:
                raise UnsupportedFile(f"This PDF uses an encryption pypdf cannot open ({exc}).") from exc
            if kind == PasswordType.NOT_DECRYPTED:
                raise UnsupportedFile("This PDF is password-protected: it needs a password to open. "
                                      "Remove the password (print or export to a new PDF) and upload it again.")
            encryption = "owner password only"
        pages = reader.pages
        n = len(pages)
    except FileNotDecryptedError as exc:
        raise UnsupportedFile("This PDF is password-protected: it needs a password to open.") from exc
    except PdfReadError as exc:
        raise CorruptFile(f"The PDF is damaged and cannot be read ({exc}).") from exc
    outputs: dict[str, Any] = {}
    total = n + 1
    if "get_metadata" in ops:
        info = reader.metadata or {}
        outputs["metadata"] = {
            "title": _text(info.get("/Title")), "author": _text(info.get("/Author")),
            "subject": _text(info.get("/Subject")), "creator": _text(info.get("/Creator")),
            "producer": _text(info.get("/Producer")), "creation_date": _text(info.get("/CreationDate")),
            "modification_date": _text(info.get("/ModDate")), "pages": n,
            "pdf_version": reader.pdf_header.lstrip("%").replace("PDF-", "") if reader.pdf_header else None,
            "encrypted": bool(reader.is_encrypted), "encryption": encryption,
        }
    if "extract_text" in ops:
        text_file = out_dir / "text.txt"
        with_text = with_images = 0
        preview: list[str] = []
        preview_len = 0
        with open(text_file, "w", encoding="utf-8") as fh:
            for i, page in enumerate(pages, start=1):
                if i == 1 or i % 5 == 0 or i == n:
                    progress(i - 1, total, f"page {i}/{n}")
                try:
                    text = page.extract_text() or ""
                except Exception as exc:  # noqa: BLE001 - one broken page should not lose the others
                    text = f"[page {i} could not be read: {type(exc).__name__}]"
                block = f"--- Page {i} ---\n{text}\n"
                fh.write(block)
                if text.strip():
                    with_text += 1
                elif _image_count(page):
                    with_images += 1
                if preview_len < PREVIEW_CHARS:
                    preview.append(block)
                    preview_len += len(block)
        ocr_needed = with_text == 0 and with_images > 0
        outputs.update(text_file=str(text_file), text_preview="".join(preview)[:PREVIEW_CHARS],
                       pages=n, pages_with_text=with_text, ocr_needed=ocr_needed,
                       message=OCR_MESSAGE if ocr_needed else (NO_TEXT_MESSAGE if with_text == 0 else None))
    progress(total, total, "done")
    return outputs


def main() -> None:
    bounded.serve(read)


if __name__ == "__main__":
    main()
