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
from app.telemetry.recorder import words

SUMMARY_FIELDS = ("id", "name", "state", "queue", "worker", "sent_at", "received_at", "started_at",
                  "finished_at", "updated_at", "runtime_s", "result", "exception", "retries", "progress",
                  "args", "kwargs", "eta", "parent_id", "root_id", "reason", "traceback")
FLOAT_FIELDS = ("sent_at", "received_at", "started_at", "finished_at", "updated_at", "runtime_s")


@dataclass(frozen=True)
class TaskFilter:
    """Filter for `list_tasks`; None means "any". Times are epoch seconds (first-seen time).

    `search` is a task id (exact) or words found in the task's args/kwargs (all must match).
    """

    state: str | None = None
    name: str | None = None
    queue: str | None = None
    worker: str | None = None
    since: float | None = None
    until: float | None = None
    search: str | None = None

    def candidate_indexes(self) -> list[tuple[str, str | None, str | None]]:
        """(index key, hash field to check, expected value) for every active filter."""
        out = []
        for field_name, value, key_of in (("state", self.state, keys.state_index),
                                          ("name", self.name, keys.name_index),
                                          ("queue", self.queue, keys.queue_index),
                                          ("worker", self.worker, keys.worker_index)):
            if value:
                out.append((key_of(value), field_name, value))
        for token in words(self.search or ""):
            out.append((keys.word_index(token), None, token))
        return out


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


def _plan(client, flt: TaskFilter) -> tuple[str, dict[str, str], list[str]]:
    """Pick the smallest matching index to walk; the other filters become checks.

    Returns (index to walk, hash field -> value checks, word indexes the id must also be in).
    """
    cands = flt.candidate_indexes()
    if not cands:
        return keys.TASKS_ALL, {}, []
    pipe = client.pipeline(transaction=False)
    for key, _, _ in cands:
        pipe.zcard(key)
    sizes = pipe.execute()
    order = sorted(range(len(cands)), key=lambda i: sizes[i])
    walk = cands[order[0]][0]
    checks = {f: v for i in order[1:] for (k, f, v) in [cands[i]] if f}
    word_keys = [cands[i][0] for i in order[1:] if cands[i][1] is None]
    return walk, checks, word_keys


def list_tasks(client, flt: TaskFilter | None = None, limit: int = 50, offset: int = 0,
               max_scan: int = 5_000) -> list[dict[str, Any]]:
    """Newest-first page of tasks matching `flt`.

    Cost: one ZCARD per filter, then ZREVRANGEBYSCORE pages on the smallest index and one pipelined
    HGETALL per candidate, stopping at `limit` matches or `max_scan` candidates. A search that is a
    known task id returns just that task.

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    flt = flt or TaskFilter()
    needle = (flt.search or "").strip()
    if needle and " " not in needle and client.exists(keys.task(needle)):
        task = get_task(client, needle)
        return [task] if task and offset == 0 else []
    index, checks, word_keys = _plan(client, flt)
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
            for wk in word_keys:
                pipe.zscore(wk, tid)
        replies = pipe.execute()
        step = 1 + len(word_keys)
        for i in range(0, len(replies), step):
            raw, scores = replies[i], replies[i + 1:i + step]
            if not raw or any(raw.get(f) != v for f, v in checks.items()) or any(s is None for s in scores):
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


def timeline(client, task_id: str) -> list[dict[str, Any]]:
    """The task's state changes, oldest first: ``[{'state', 'at' (epoch s), 'info'}]``."""
    out = []
    for item in client.lrange(keys.timeline(task_id), 0, 199):
        try:
            out.append(json.loads(item))
        except ValueError:
            continue
    return out


def children(client, task_id: str) -> list[str]:
    """Ids of tasks published while task `task_id` ran (subtasks, chord parts, retries by hand)."""
    return sorted(client.smembers(keys.children(task_id)))


def runtime_percentiles(client, names: list[str], quantiles=(0.5, 0.95)) -> dict[str, dict[str, float]]:
    """Per task name: count and runtime quantiles in seconds, from the histogram buckets.

    A quantile is reported as the upper bound of the bucket it falls in (as Prometheus'
    histogram_quantile does without interpolation); +Inf buckets report the largest finite bound.
    """
    pipe = client.pipeline(transaction=False)
    for n in names:
        pipe.hgetall(keys.runtime_histogram(n))
    out: dict[str, dict[str, float]] = {}
    finite_max = max(b for b in keys.RUNTIME_BUCKETS_S if b != float("inf"))
    for n, raw in zip(names, pipe.execute()):
        buckets = sorted((float(b), int(c)) for b, c in raw.items() if b != "sum")
        total = sum(c for _, c in buckets)
        if not total:
            continue
        row = {"count": float(total)}
        for q in quantiles:
            seen = 0
            for bound, c in buckets:
                seen += c
                if seen >= q * total:
                    row[f"p{int(q * 100)}"] = bound if bound != float("inf") else finite_max
                    break
        out[n] = row
    return out


def per_minute(client, states: tuple[str, ...], minutes: int = 60, now: float | None = None) -> dict[str, list]:
    """Counts per UTC minute for the last `minutes`: ``{'minute': [datetime...], state: [int...]}``."""
    from datetime import datetime, timedelta, timezone

    now = time.time() if now is None else now
    end = datetime.fromtimestamp(now, timezone.utc).replace(second=0, microsecond=0)
    stamps = [end - timedelta(minutes=i) for i in range(minutes - 1, -1, -1)]
    labels = [s.strftime("%Y%m%d%H%M") for s in stamps]
    out: dict[str, list] = {"minute": stamps}
    for st in states:
        values = client.mget([keys.counter(st, m) for m in labels])
        out[st] = [int(v or 0) for v in values]
    return out
