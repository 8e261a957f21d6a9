"""PowerPoint (.pptx) processing with python-pptx: text per slide and the deck's structure.

Operations (the `process_powerpoint` task): ``extract_text`` (per slide: title, body, notes; text
inside group shapes and table cells included, groups walked recursively) and
``analyze_structure`` (slide count, layouts, pictures, tables, charts, groups, notes).
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pptx
from pptx.enum.shapes import MSO_SHAPE_TYPE

from app.errors import ConsoleError
from app.documents import intake

OPERATIONS = ("extract_text", "analyze_structure")
PREVIEW_CHARS = 2_000


def open_presentation(path: Path):
    """Open a stored .pptx. Raises CorruptFile when python-pptx cannot parse it."""
    try:
        return pptx.Presentation(str(path))
    except Exception as exc:  # noqa: BLE001 - zip/lxml/package errors all mean "cannot parse"
        raise intake.corrupt("pptx", exc) from exc


def walk(shapes) -> Iterator[Any]:
    """Every shape in `shapes`, descending into group shapes (depth first, document order)."""
    for shape in shapes:
        yield shape
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from walk(shape.shapes)


def _shape_text(shape) -> str:
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return shape.text_frame.text
    if getattr(shape, "has_table", False) and shape.has_table:
        return "\n".join("\t".join(cell.text for cell in row.cells) for row in shape.table.rows)
    return ""


def slide_text(slide) -> dict[str, str]:
    """``{'title', 'body', 'notes'}`` of one slide; body = every other shape's text, in order."""
    title_shape = slide.shapes.title
    title = title_shape.text_frame.text if title_shape is not None and title_shape.has_text_frame else ""
    title_id = title_shape.shape_id if title_shape is not None else None
    body = [t for s in walk(slide.shapes) if s.shape_id != title_id and (t := _shape_text(s).strip())]
    notes = ""
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = slide.notes_slide.notes_text_frame.text.strip()
    return {"title": title.strip(), "body": "\n".join(body), "notes": notes}


def extract_text(prs, out_dir: Path) -> dict[str, Any]:
    """Write ``slides.txt`` (readable) and ``slides.json`` (per slide title/body/notes)."""
    slides = [{"number": n, **slide_text(s)} for n, s in enumerate(prs.slides, start=1)]
    lines = []
    for s in slides:
        lines.append(f"--- Slide {s['number']}: {s['title']}".rstrip())
        if s["body"]:
            lines.append(s["body"])
        if s["notes"]:
            lines.append(f"[Notes] {s['notes']}")
    text = "\n".join(lines)
    text_file, json_file = Path(out_dir) / "slides.txt", Path(out_dir) / "slides.json"
    text_file.write_text(text, encoding="utf-8")
    json_file.write_text(json.dumps(slides, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"text_file": str(text_file), "slides_file": str(json_file), "text_preview": text[:PREVIEW_CHARS],
            "slide_count": len(slides), "slides_with_notes": sum(1 for s in slides if s["notes"])}


def _is_picture_element(shape) -> bool:
    """A ``<p:pic>`` shape (pictures in placeholders report PLACEHOLDER as their shape type)."""
    return shape._element.tag.rsplit("}", 1)[-1] == "pic"


def analyze_structure(prs) -> dict[str, Any]:
    """Counts over the deck: slides, layouts (name → slides), pictures, tables, charts, groups,
    text shapes, slides_with_notes, and the slide size in EMU."""
    layouts: Counter[str] = Counter()
    counts = Counter()
    for slide in prs.slides:
        layouts[slide.slide_layout.name or "(unnamed)"] += 1
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None \
                and slide.notes_slide.notes_text_frame.text.strip():
            counts["slides_with_notes"] += 1
        for shape in walk(slide.shapes):
            st = shape.shape_type
            if st == MSO_SHAPE_TYPE.PICTURE or _is_picture_element(shape):
                counts["pictures"] += 1
            if getattr(shape, "has_table", False) and shape.has_table:
                counts["tables"] += 1
            if getattr(shape, "has_chart", False) and shape.has_chart:
                counts["charts"] += 1
            if st == MSO_SHAPE_TYPE.GROUP:
                counts["groups"] += 1
            if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                counts["text_shapes"] += 1
    return {"slides": len(prs.slides), "layouts": dict(layouts),
            **{k: counts.get(k, 0) for k in ("pictures", "tables", "charts", "groups", "text_shapes",
                                             "slides_with_notes")},
            "slide_width_emu": prs.slide_width, "slide_height_emu": prs.slide_height}


def process(path: Path, operations: list[str], out_dir: Path,
            on_step: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Run `operations` on the .pptx at `path` (already checked by `intake.require_kind`).

    Returns (keys for the operations run): ``text_file``, ``slides_file``, ``text_preview``,
    ``slide_count``, ``slides_with_notes`` (extract_text); ``structure`` (analyze_structure).

    Raises:
        InvalidInput: unknown or missing operations. CorruptFile: see `open_presentation`.
    """
    ops = intake.check_operations(operations, OPERATIONS)
    step = on_step or (lambda *_: None)
    total = len(ops) + 1
    step(0, total, "opening presentation")
    prs = open_presentation(path)
    outputs: dict[str, Any] = {}
    for n, op in enumerate(ops, start=1):
        step(n, total, op)
        try:
            if op == "extract_text":
                outputs.update(extract_text(prs, out_dir))
            else:
                outputs["structure"] = analyze_structure(prs)
        except ConsoleError:
            raise
        except Exception as exc:  # noqa: BLE001 - python-pptx InvalidXmlError, KeyError on broken parts
            raise intake.corrupt("pptx", exc) from exc
    step(total, total, "done")
    return outputs
