"""Widgets of the Task Monitor page: queues, workers, recent tasks, task lookup."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pandas as pd
import streamlit as st
from celery.result import AsyncResult

from app.store import history
from app.monitor.snapshot import Snapshot
from app.telemetry.redaction import redact, redact_text
from app.ui import arrow_table
from app.ui.resources import celery
from app.ui.text import plain

#: History fields a view never shows: the raw arguments kept so "retry" can re-send them.
HIDDEN_FIELDS = frozenset({"args_json", "kwargs_json"})


def ago(ts: float | None, now: float | None = None) -> str:
    """'3 s ago' / '5 min ago' for an epoch time; '' for None."""
    if not ts:
        return ""
    d = max(0.0, (now or time.time()) - ts)
    return f"{d:.0f} s ago" if d < 120 else (f"{d / 60:.0f} min ago" if d < 7200 else f"{d / 3600:.1f} h ago")


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


#: Queue figures per row: a queue name ("file_processing_queue") stays readable at 1024 px.
QUEUE_METRICS_PER_ROW = 3
QUEUES_HELP = ("Ready messages per queue, all priority sub-queues summed. Reserved / unacked: delivered to a "
               "worker but not yet acknowledged (running, prefetched or ETA-held); unknown on RabbitMQ without "
               "RABBITMQ_MANAGEMENT_URL.")


def queues_panel(snap: Snapshot, queue_names) -> None:
    """A metric-like cell (gray label, bold value) per queue (ready messages) and one for the
    reserved/unacked count, three a row, read row by row.

    Drawn as one markdown element per column (cells of equal height, so the rows line up): markdown is
    in Streamlit's main script bundle, while ``st.metric`` waits for its own code chunk, and on a
    page's first load the browser reveals such lazily loaded elements in batches (React's Suspense
    throttle), seconds after the text arrived; and with 50 queues a refresh sends 7 elements, not 200
    (a metric in its own column block each), which is most of a refresh's CPU.
    """
    unacked = f"{snap.depths.unacked:,}" if snap.depths.unacked is not None else "unknown"
    cells = [(q, f"{snap.depths.ready.get(q, 0):,}") for q in queue_names] + [("reserved / unacked", unacked)]
    for i, col in enumerate(st.columns(QUEUE_METRICS_PER_ROW)):
        text = "\n\n".join(f":gray[{plain(label)}]  \n**{plain(value)}**"
                            for label, value in cells[i::QUEUE_METRICS_PER_ROW])
        if text:
            col.markdown(text, help=QUEUES_HELP if i == 0 else None)


def workers_panel(snap: Snapshot) -> None:
    if not snap.online:
        st.warning("No worker is online: tasks will wait in their queues. Start workers with "
                   "`./celery_worker.sh` or `make run`.", icon=":material/warning:")
    if not snap.workers:
        return
    rows = [{"worker": w.hostname, "online": "online" if w.online else "OFFLINE", "queues": ", ".join(w.queues),
             "pool": w.pool, "concurrency": w.concurrency, "active": w.active_count,
             "processed": w.processed, "failed": w.failed, "load": " ".join(str(x) for x in w.loadavg),
             "last heartbeat": ago(w.last_heartbeat), "source": w.source} for w in sorted(snap.workers, key=lambda w: w.hostname)]
    st.dataframe(arrow_table.from_rows(rows), hide_index=True, width="stretch")
    active = [dict(a, worker=w.hostname) for w in sorted(snap.online, key=lambda w: w.hostname)
              for a in sorted(w.active, key=lambda a: a.get("id") or "")]
    if active:
        st.caption("Active tasks")
        st.dataframe(arrow_table.from_rows([{"id": a["id"], "task": a["name"], "worker": a["worker"],
                                             "running for": ago(a.get("started_at"))} for a in active]),
                     hide_index=True, width="stretch")


def progress_percent(task: dict) -> int | None:
    """A running task's last reported percent (0-100; `ConsoleTask.report_progress` meta), else None."""
    progress = task.get("progress")
    if task.get("state") != "PROGRESS" or not isinstance(progress, dict):
        return None
    try:
        return min(max(int(progress.get("percent") or 0), 0), 100)
    except (TypeError, ValueError):
        return None


def tasks_table(tasks: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": t.get("id"), "state": t.get("state"), "progress": progress_percent(t), "name": t.get("name"),
        "queue": t.get("queue"), "worker": t.get("worker"), "sent": when(t.get("sent_at") or t.get("received_at")),
        "runtime (s)": round(t["runtime_s"], 3) if t.get("runtime_s") is not None else None,
        "result": (t.get("exception") or t.get("result") or "")[:200], "app": t.get("app") or "console",
    } for t in tasks], columns=["id", "state", "progress", "name", "queue", "worker", "sent", "runtime (s)", "result",
                                "app"])


def task_lookup(client, task_id: str) -> None:
    """Celery's view (AsyncResult) and the history's view of one task id."""
    task_id = task_id.strip()
    res = AsyncResult(task_id, app=celery())
    entry = history.get_task(client, task_id)
    st.markdown(f"Celery state: **{res.state}**")
    if entry is None and res.state == "PENDING":
        st.info("Unknown task id: never seen by this console, or its history has expired.")
    if entry:  # raw arguments kept for "retry" (args_json / kwargs_json) are never shown
        shown = {k: (redact_text(v) if isinstance(v, str) else v) for k, v in entry.items()
                 if v not in (None, "") and k not in HIDDEN_FIELDS}
        st.json(shown, expanded=False)
    if res.state == "SUCCESS":
        st.json(redact(json.loads(json.dumps(res.result, default=str))), expanded=False)
    elif res.state == "FAILURE":
        st.code(redact_text(f"{type(res.result).__name__}: {res.result}"), language=None)
        if res.traceback:
            st.code(redact_text(res.traceback), language=None)
