"""CSV export of the Task Monitor's filtered task list.

The file holds every task the filter matches (newest first, at most `EXPORT_MAX`), read page by page
with the same cursor paging as the list and the HTTP API (`app.store.history.page`). Cells are safe
to open in a spreadsheet: text starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return)
gets a leading ``'`` so it is never run as a formula, and secrets in arguments, results and errors
are masked (`app.telemetry.redaction.redact_text`).
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from app.store import history
from app.telemetry.redaction import redact_text

EXPORT_MAX = 10_000
PAGE = 500
COLUMNS = ("id", "state", "name", "app", "queue", "worker", "sent (UTC)", "started (UTC)", "finished (UTC)",
           "runtime (s)", "retries", "args", "kwargs", "result", "exception")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> object:
    """`value` for a CSV cell: text redacted and, when it starts like a formula, prefixed with ``'``;
    numbers as they are; None as empty."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = redact_text(str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def _utc(ts) -> str:
    return datetime.fromtimestamp(float(ts), timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if ts else ""


def row(task: dict) -> list:
    """One history record as the CSV's cells (`COLUMNS` order, each through `safe_cell`)."""
    values = (task.get("id"), task.get("state"), task.get("name"), task.get("app") or "console", task.get("queue"),
              task.get("worker"), _utc(task.get("sent_at") or task.get("received_at")), _utc(task.get("started_at")),
              _utc(task.get("finished_at")), task.get("runtime_s"), task.get("retries"), task.get("args"),
              task.get("kwargs"), task.get("result"), task.get("exception"))
    return [safe_cell(v) for v in values]


def csv_bytes(client, flt: history.TaskFilter, skip_names=frozenset(), limit: int = EXPORT_MAX) -> tuple[bytes, int]:
    """(UTF-8 CSV with a header row, number of tasks): the tasks matching `flt`, newest first, at most
    `limit`, leaving out tasks named in `skip_names`.

    Raises:
        StoreError: Redis cannot be reached.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    n, cursor = 0, None
    while n < limit:
        tasks, cursor = history.page(client, flt, PAGE, cursor)
        for task in tasks:
            if task.get("name") in skip_names:
                continue
            writer.writerow(row(task))
            n += 1
            if n >= limit:
                break
        if not cursor:
            break
    return out.getvalue().encode("utf-8"), n
