"""Word (.docx) processing with python-docx: text in reading order, statistics, embedded images.

Operations (the task `process_word_document`): ``extract_text``, ``count_stats``,
``extract_images``. Every function takes the path of a stored .docx and an output folder.
"""
from __future__ import annotations

from types import MappingProxyType
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from app.errors import CorruptFile, InvalidInput, UnsupportedFile

OPERATIONS = ("extract_text", "count_stats", "extract_images")
PREVIEW_CHARS = 2_000
_IMAGE_EXT = MappingProxyType({"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/bmp": ".bmp",
                               "image/tiff": ".tif", "image/x-emf": ".emf", "image/x-wmf": ".wmf",
                               "image/webp": ".webp", "image/svg+xml": ".svg", "image/x-pict": ".pict"})


def open_document(path: Path) -> docx.document.Document:
    """Open a .docx.

    Raises:
        UnsupportedFile: not a ZIP/OOXML package at all (e.g. a PDF or an old binary .doc).
        CorruptFile: a ZIP that is truncated or lacks the Word parts (e.g. Strict OOXML).
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head.startswith(b"PK"):
            raise CorruptFile("The .docx file is damaged (its ZIP directory is missing or truncated).")
        raise UnsupportedFile("This is not a Word .docx file (it is not an Office Open XML package).")
    try:
        return docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError) as exc:
        raise CorruptFile(f"The .docx file is damaged and cannot be opened ({exc}).") from exc
    except KeyError as exc:
        raise CorruptFile("The .docx has no Word main document part; it may be Strict Open XML "
                          "or another kind of package. Re-save it as a standard .docx.") from exc
    except Exception as exc:  # lxml / zip errors deep inside python-docx
        raise CorruptFile(f"The .docx file could not be parsed: {type(exc).__name__}: {exc}") from exc


def _table_text(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            text = " ".join(p.text for p in cell.paragraphs).strip()
            if not cells or cells[-1] != text:  # merged cells repeat; keep one copy
                cells.append(text)
        rows.append("\t".join(cells))
    return "\n".join(rows)


def body_text(document) -> str:
    """Paragraphs and tables of the body, in reading order; tables as tab-separated rows."""
    blocks = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            blocks.append(item.text)
        elif isinstance(item, Table):
            blocks.append(_table_text(item))
    return "\n".join(blocks)


def extract_text(document, out_dir: Path) -> dict[str, Any]:
    """Write the body text to ``<out_dir>/text.txt`` (UTF-8). Returns text_file and text_preview."""
    text = body_text(document)
    text_file = Path(out_dir) / "text.txt"
    text_file.write_text(text, encoding="utf-8")
    return {"text_file": str(text_file), "text_preview": text[:PREVIEW_CHARS]}


def _image_parts(document) -> list:
    return [p for p in document.part.package.iter_parts() if p.content_type.startswith("image/")]


def _is_heading(paragraph, by_style_id: dict[str | None, bool]) -> bool:
    """Whether `paragraph`'s style is a heading or title, resolved once per style id (python-docx's
    `Paragraph.style` looks the style up, and the default style by an XPath over every style, on
    each call: most of the CPU of counting a small document). A paragraph without a style id has
    the document's default paragraph style, body text in Word's templates, and is not counted."""
    style_id = paragraph._p.style  # w:pStyle/@w:val, None for the default paragraph style
    if style_id is None:
        return False  # the default paragraph style is body text ("Normal") in Word's templates
    if style_id not in by_style_id:
        style = paragraph.style
        by_style_id[style_id] = style is not None and (style.name or "").lower().startswith(("heading", "title"))
    return by_style_id[style_id]


def count_stats(document) -> dict[str, int]:
    """Counts: words, characters, paragraphs (non-empty), tables, images, headings, sections."""
    text = body_text(document)
    paragraphs = document.paragraphs
    heading_style: dict[str | None, bool] = {}
    headings = sum(1 for p in paragraphs if _is_heading(p, heading_style))
    return {
        "words": len(text.split()),
        "characters": len(text),
        "paragraphs": sum(1 for p in paragraphs if p.text.strip()),
        "tables": len(document.tables),
        "images": len(_image_parts(document)),
        "headings": headings,
        "sections": len(document.sections),
    }


def extract_images(document, out_dir: Path) -> list[str]:
    """Write each embedded image part to ``<out_dir>/images/image_NNN.<ext>``; returns the paths."""
    folder = Path(out_dir) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, part in enumerate(_image_parts(document), start=1):
        ext = _IMAGE_EXT.get(part.content_type) or Path(str(part.partname)).suffix.lower() or ".bin"
        target = folder / f"image_{n:03d}{ext}"
        target.write_bytes(part.blob)
        paths.append(str(target))
    return paths


def process(path: Path, operations: list[str], out_dir: Path,
            on_step: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Run `operations` on the .docx at `path`, writing outputs into `out_dir`.

    Returns ``{'text_file', 'text_preview', 'stats', 'images'}`` (keys for the operations run).

    Raises:
        InvalidInput: an unknown operation or none at all.
        UnsupportedFile / CorruptFile: see `open_document`.
    """
    ops = list(dict.fromkeys(operations or []))
    unknown = [op for op in ops if op not in OPERATIONS]
    if not ops or unknown:
        raise InvalidInput(f"Unknown or missing operations {unknown or ops}; choose from {list(OPERATIONS)}.")
    total = len(ops) + 1
    step = on_step or (lambda *_: None)
    step(0, total, "opening document")
    document = open_document(path)
    outputs: dict[str, Any] = {}
    for n, op in enumerate(ops, start=1):
        step(n, total, op)
        if op == "extract_text":
            outputs.update(extract_text(document, out_dir))
        elif op == "count_stats":
            outputs["stats"] = count_stats(document)
        elif op == "extract_images":
            outputs["images"] = extract_images(document, out_dir)
    step(total, total, "done")
    return outputs
