"""Reads of the task history index (`app.monitor.keys`), with cost bounded by the page size.

A page is one ZREVRANGE on the narrowest index that matches the filter plus one pipelined HGETALL
per listed task, so its cost grows with log(N) + page size, never with the number of stored tasks.
With more than one filter the first index is walked in chunks and the rest are checked on the
hashes, up to `max_scan` ids.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from app.monitor import keys

SUMMARY_FIELDS = ("id", "name", "state", "queue", "worker", "sent_at", "received_at", "started_at",
                  "finished_at", "updated_at", "runtime_s", "result", "exception", "retries", "progress",
                  "args", "kwargs", "eta", "parent_id", "root_id", "reason", "traceback")
FLOAT_FIELDS = ("sent_at", "received_at", "started_at", "finished_at", "updated_at", "runtime_s")


@dataclass(frozen=True)
class TaskFilter:
    """Filter for `list_tasks`; None means "any". Times are epoch seconds (first-seen time)."""

    state: str | None = None
    name: str | None = None
    queue: str | None = None
    worker: str | None = None
    since: float | None = None
    until: float | None = None

    def index_and_checks(self) -> tuple[str, dict[str, str]]:
        pairs = [("state", self.state, keys.state_index), ("name", self.name, keys.name_index),
                 ("queue", self.queue, keys.queue_index), ("worker", self.worker, keys.worker_index)]
        chosen = [(f, v, k) for f, v, k in pairs if v]
        if not chosen:
            return keys.TASKS_ALL, {}
        first, rest = chosen[0], chosen[1:]
        return first[2](first[1]), {f: v for f, v, _ in rest}


def _decode(raw: dict[str, str]) -> dict[str, Any]:
    task: dict[str, Any] = dict(raw)
    for f in FLOAT_FIELDS:
        if task.get(f):
            try:
                task[f] = float(task[f])
            except ValueError:
                task[f] = None
    if task.get("progress"):
        try:
            task["progress"] = json.loads(task["progress"])
        except ValueError:
            pass
    return task


def get_task(client, task_id: str) -> dict[str, Any] | None:
    """One task's history hash (decoded), or None if unknown or past retention."""
    raw = client.hgetall(keys.task(task_id))
    return _decode(raw) if raw else None


def list_tasks(client, flt: TaskFilter | None = None, limit: int = 50, offset: int = 0,
               max_scan: int = 5_000) -> list[dict[str, Any]]:
    """Newest-first page of tasks matching `flt`.

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    flt = flt or TaskFilter()
    index, checks = flt.index_and_checks()
    hi = "+inf" if flt.until is None else flt.until
    lo = "-inf" if flt.since is None else flt.since
    out: list[dict[str, Any]] = []
    skipped = scanned = 0
    chunk = limit if not checks else max(limit * 4, 200)
    start = 0
    while len(out) < limit and scanned < max_scan:
        ids = client.zrevrangebyscore(index, hi, lo, start=start, num=chunk)
        if not ids:
            break
        start += len(ids)
        scanned += len(ids)
        pipe = client.pipeline(transaction=False)
        for tid in ids:
            pipe.hgetall(keys.task(tid))
        for raw in pipe.execute():
            if not raw or any(raw.get(f) != v for f, v in checks.items()):
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(_decode(raw))
            if len(out) >= limit:
                break
    return out


def count_by_state(client) -> dict[str, int]:
    """Number of tasks in each state index (one pipelined round trip of ZCARDs)."""
    pipe = client.pipeline(transaction=False)
    for s in keys.STATES:
        pipe.zcard(keys.state_index(s))
    return dict(zip(keys.STATES, (int(x) for x in pipe.execute())))


def task_names(client) -> list[str]:
    """Every task name seen, sorted."""
    return sorted(client.smembers(keys.TASK_NAMES))


def trim(client, retention_s: int, max_tasks: int, now: float | None = None) -> int:
    """Drop index entries older than `retention_s` or beyond the newest `max_tasks`.

    Walks the global index (oldest first) and removes each expired id from every index; the task
    hashes themselves expire by TTL. Returns how many ids were removed.
    """
    now = time.time() if now is None else now
    cutoff = now - retention_s
    removed = 0
    excess = max(0, int(client.zcard(keys.TASKS_ALL)) - max_tasks)
    while True:
        old = client.zrangebyscore(keys.TASKS_ALL, "-inf", cutoff, start=0, num=1_000)
        if not old and excess > 0:
            old = client.zrange(keys.TASKS_ALL, 0, min(excess, 1_000) - 1)
        if not old:
            return removed
        pipe = client.pipeline(transaction=False)
        for t in old:
            pipe.hmget(keys.task(t), "name", "queue", "worker")
        raws = pipe.execute()
        for tid, (name, queue, worker) in zip(old, raws):
            pipe.zrem(keys.TASKS_ALL, tid)
            for s in keys.STATES:
                pipe.zrem(keys.state_index(s), tid)
            if name:
                pipe.zrem(keys.name_index(name), tid)
            if queue:
                pipe.zrem(keys.queue_index(queue), tid)
            if worker:
                pipe.zrem(keys.worker_index(worker), tid)
            pipe.delete(keys.task(tid))
        pipe.execute()
        removed += len(old)
        excess = max(0, excess - len(old))
