"""Writing one `ReportDocument` in several formats into a task's output folder."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from app.errors import InvalidInput
from app.reports import writers
from app.reports.document import ReportDocument

ProgressFn = Callable[..., None]


def parse_formats(value: str | Iterable[str], allowed: tuple[str, ...] = writers.REPORT_FORMATS) -> list[str]:
    """Formats from ``'html'``, ``'html,pdf'`` or ``['html', 'pdf']`` (lower-cased, de-duplicated).

    Raises:
        InvalidInput: empty, or a format not in `allowed`.
    """
    items = value.split(",") if isinstance(value, str) else list(value or [])
    out: list[str] = []
    for item in items:
        f = str(item).strip().lower().lstrip(".")
        if f and f not in out:
            out.append(f)
    bad = [f for f in out if f not in allowed]
    if bad or not out:
        raise InvalidInput(f"Unknown format {', '.join(bad) or '(none)'}; use one of {', '.join(allowed)}.")
    return out


def file_stem(title: str) -> str:
    """A safe file name stem from a title: ASCII letters, digits, '-' and '_' (≤ 60 chars)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_").lower()[:60]
    return stem or "report"


def render_all(doc: ReportDocument, formats: list[str], out_dir: Path, stem: str,
               on_step: ProgressFn | None = None) -> dict[str, str]:
    """Write `doc` once per format as ``<out_dir>/<stem>.<fmt>``.

    Returns ``{'<fmt>_file': path}``. Progress: ``on_step(done, total, message)`` after each file.
    """
    outputs: dict[str, str] = {}
    for i, fmt in enumerate(formats, 1):
        path = Path(out_dir) / f"{stem}.{fmt}"
        writers.write(doc, fmt, path)
        outputs[f"{fmt}_file"] = str(path)
        if on_step:
            on_step(i, len(formats), f"wrote {fmt}")
    return outputs
