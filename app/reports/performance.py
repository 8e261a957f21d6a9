"""Task-performance report (the task `generate_task_performance_report`) from the Redis task history.

Reads the tasks first seen within the period from the global index (``cc:idx:all``, a sorted set
scored by first-seen time) through `app.store.history.tasks_in_window`: pages of `PAGE_SIZE` ids
and one pipelined HMGET per page; the work is bounded by the period and by
`max_tasks` (never KEYS, never a scan of all keys).

Figures (pandas; percentiles by linear interpolation, `Series.quantile`):

- per task name: tasks, succeeded, failed, success rate % (succeeded / finished), retries
  (sum of the retry counter), runtime p50/p95/max (s, worker run time), queue wait p50/p95 (s,
  started_at − sent_at: time in the queue plus any ETA/countdown);
- per queue: tasks, finished, failed, throughput (finished tasks per minute over the period);
- finished tasks per time bucket (chart).
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import pandas as pd

from app.errors import InvalidInput
from app.store import history
from app.store.states import FINISHED_STATES
from app.reports.document import Chart, ReportDocument, Section, Table

FIELDS = ("name", "state", "queue", "runtime_s", "sent_at", "received_at", "started_at",
          "finished_at", "retries")
PAGE_SIZE = 1_000
MAX_TASKS = 50_000
_PERIOD_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_S = MappingProxyType({"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 7 * 86_400})
NAMED_PERIODS = MappingProxyType({"hour": 3_600, "day": 86_400, "week": 7 * 86_400})


def parse_period(period: str | int | float) -> float:
    """A period in seconds from ``'15m'``, ``'24h'``, ``'7d'``, ``'1w'``, ``'day'`` or a number of seconds.

    Raises:
        InvalidInput: anything else, or a period not above 0.
    """
    if isinstance(period, (int, float)) and not isinstance(period, bool):
        seconds = float(period)
    elif isinstance(period, str) and period.strip().lower() in NAMED_PERIODS:
        seconds = float(NAMED_PERIODS[period.strip().lower()])
    elif isinstance(period, str) and (m := _PERIOD_RE.match(period)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2).lower()]
    else:
        raise InvalidInput(f"Unknown period {period!r}: use e.g. '1h', '24h', '7d' or a number of seconds.")
    if seconds <= 0:
        raise InvalidInput("The period must be longer than 0 seconds.")
    return seconds


def collect(client, since: float, until: float, max_tasks: int = MAX_TASKS) -> tuple[pd.DataFrame, bool]:
    """Tasks first seen in [since, until] (epoch s), newest first, at most `max_tasks`.

    Returns (frame with `FIELDS` + id, truncated). Raises redis.RedisError when Redis is down.
    """
    rows: list[dict[str, Any]] = []
    truncated = False
    for page in history.tasks_in_window(client, since, until, FIELDS, PAGE_SIZE):
        rows.extend(dict(values, id=tid) for tid, values in page if values.get("name"))
        if len(rows) >= max_tasks:
            rows, truncated = rows[:max_tasks], True
            break
    df = pd.DataFrame(rows, columns=["id", *FIELDS])
    for col in ("runtime_s", "sent_at", "received_at", "started_at", "finished_at", "retries"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["retries"] = df["retries"].fillna(0).astype(int)
    df["wait_s"] = (df["started_at"] - df["sent_at"]).clip(lower=0)
    return df, truncated


def _q(s: pd.Series, q: float) -> float | None:
    s = s.dropna()
    return float(s.quantile(q)) if len(s) else None


def per_name(df: pd.DataFrame) -> pd.DataFrame:
    """One row per task name (see module docstring), busiest first."""
    out = []
    for name, g in df.groupby("name", sort=False):
        ok = int((g["state"] == "SUCCESS").sum())
        failed = int((g["state"] == "FAILURE").sum())
        finished = int(g["state"].isin(list(FINISHED_STATES)).sum())
        out.append({"task": name, "tasks": len(g), "succeeded": ok, "failed": failed,
                    "success rate %": round(100 * ok / finished, 2) if finished else None,
                    "retries": int(g["retries"].sum()),
                    "runtime p50 s": _q(g["runtime_s"], .5), "runtime p95 s": _q(g["runtime_s"], .95),
                    "runtime max s": float(g["runtime_s"].max()) if g["runtime_s"].notna().any() else None,
                    "wait p50 s": _q(g["wait_s"], .5), "wait p95 s": _q(g["wait_s"], .95)})
    cols = ["task", "tasks", "succeeded", "failed", "success rate %", "retries", "runtime p50 s",
            "runtime p95 s", "runtime max s", "wait p50 s", "wait p95 s"]
    return pd.DataFrame(out, columns=cols).sort_values("tasks", ascending=False, kind="stable").reset_index(drop=True)


def per_queue(df: pd.DataFrame, period_s: float) -> pd.DataFrame:
    """One row per queue: tasks, finished, failed, throughput per minute, wait p50 s."""
    out = []
    for queue, g in df.assign(queue=df["queue"].fillna("(unknown)")).groupby("queue", sort=True):
        finished = int(g["state"].isin(list(FINISHED_STATES)).sum())
        out.append({"queue": queue, "tasks": len(g), "finished": finished,
                    "failed": int((g["state"] == "FAILURE").sum()),
                    "throughput per min": round(finished / (period_s / 60), 4),
                    "wait p50 s": _q(g["wait_s"], .5)})
    return pd.DataFrame(out, columns=["queue", "tasks", "finished", "failed", "throughput per min", "wait p50 s"])


def _bucket_s(period_s: float) -> tuple[int, str]:
    for size, label in ((60, "minute"), (300, "5 minutes"), (3_600, "hour"), (86_400, "day")):
        if period_s / size <= 96:
            return size, label
    return 7 * 86_400, "week"


def timeline(df: pd.DataFrame, since: float, until: float) -> tuple[pd.DataFrame, str]:
    """Finished tasks per time bucket (UTC), succeeded and failed, over [since, until]."""
    size, label = _bucket_s(until - since)
    fin = df[df["finished_at"].notna()]
    first = int(since // size) * size
    edges = range(first, int(until) + size, size)
    buckets = ((fin["finished_at"] // size) * size).astype("int64")
    rows = []
    for b in edges:
        sel = fin[buckets == b]
        rows.append({"time (UTC)": datetime.fromtimestamp(b, timezone.utc).strftime("%Y-%m-%d %H:%M"),
                     "succeeded": int((sel["state"] == "SUCCESS").sum()),
                     "failed": int((sel["state"] == "FAILURE").sum())})
    return pd.DataFrame(rows), label


def performance_document(client, period: str | int | float, now: float | None = None,
                         max_tasks: int = MAX_TASKS) -> ReportDocument:
    """The task-performance report over the last `period` (see `parse_period`).

    Raises:
        InvalidInput: bad period. redis.RedisError: Redis cannot be reached.
    """
    period_s = parse_period(period)
    until = time.time() if now is None else now
    since = until - period_s
    df, truncated = collect(client, since, until, max_tasks)
    names, queues = per_name(df), per_queue(df, period_s)
    line, bucket = timeline(df, since, until)
    finished = int(df["state"].isin(list(FINISHED_STATES)).sum())
    succeeded = int((df["state"] == "SUCCESS").sum())
    summary = {"period": str(period), "period_s": period_s,
               "since": datetime.fromtimestamp(since, timezone.utc).isoformat(),
               "until": datetime.fromtimestamp(until, timezone.utc).isoformat(),
               "tasks": int(len(df)), "finished": finished, "succeeded": succeeded,
               "failed": int((df["state"] == "FAILURE").sum()),
               "success_rate_pct": round(100 * succeeded / finished, 2) if finished else None,
               "task_names": int(len(names)), "truncated": truncated}
    overview = [f"{len(df)} tasks first seen between {summary['since']} and {summary['until']} "
                f"(UTC); {finished} finished, {summary['failed']} failed."]
    if truncated:
        overview.append(f"Only the newest {max_tasks} tasks of the period were read.")
    if df.empty:
        overview.append("No task ran in this period (or its history has expired).")
    sections = [Section("Overview", paragraphs=overview)]
    if not names.empty:
        sections.append(Section("Per task", tables=[Table("Per task name", names)], charts=[
            Chart("Runtime p95 per task (s)", "bar", list(names["task"].str.rsplit(".", n=1).str[-1]),
                  {"runtime p95 s": [None if pd.isna(v) else float(v) for v in names["runtime p95 s"]],
                   "runtime p50 s": [None if pd.isna(v) else float(v) for v in names["runtime p50 s"]]},
                  x_label="task", y_label="seconds")]))
        sections.append(Section("Per queue", tables=[Table("Per queue", queues)], charts=[
            Chart("Throughput per queue (finished tasks per minute)", "bar", list(queues["queue"]),
                  {"throughput per min": [float(v) for v in queues["throughput per min"]]},
                  x_label="queue", y_label="tasks / min")]))
        sections.append(Section(f"Finished tasks per {bucket}", tables=[], charts=[
            Chart(f"Finished tasks per {bucket} (UTC)", "line", list(line["time (UTC)"]),
                  {"succeeded": [int(v) for v in line["succeeded"]], "failed": [int(v) for v in line["failed"]]},
                  x_label=bucket, y_label="tasks")]))
    return ReportDocument("Task performance report", f"Last {period} · {len(df)} tasks", sections,
                          summary=summary, data=df.drop(columns=["wait_s"]) if not df.empty else None)
