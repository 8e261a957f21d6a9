"""JSON report: title, summary, and each section's paragraphs, tables (as records) and chart data."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.reports.document import ReportDocument, frame_records, jsonable


def render(doc: ReportDocument) -> dict[str, Any]:
    """The report as a JSON-safe dict (NaN → null, dates → ISO strings)."""
    return {
        "title": doc.title, "subtitle": doc.subtitle,
        "summary": json.loads(json.dumps(doc.summary, default=str)),
        "sections": [{
            "heading": s.heading, "paragraphs": s.paragraphs,
            "tables": [{"caption": t.caption, "columns": [str(c) for c in t.frame.columns],
                        "rows": frame_records(t.frame)} for t in s.tables],
            "charts": [{"title": c.title, "kind": c.kind, "x": [jsonable(x) for x in c.x],
                        "series": {k: [jsonable(v) for v in vs] for k, vs in c.series.items()}}
                       for c in s.charts],
        } for s in doc.sections],
    }


def write(doc: ReportDocument, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(render(doc), fh, ensure_ascii=False, indent=1, allow_nan=False)
