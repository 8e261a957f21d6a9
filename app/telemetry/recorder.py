"""Task history writer: Celery signal handlers that keep the index in `app.monitor.keys`.

Each state change is one pipelined round trip (no MULTI): update the task hash, append to its
timeline, move the id between state indexes, add it to the name/queue/worker/word indexes, bump the
per-minute counter and (on finish) the runtime histogram and the worker's counters, and refresh TTLs.
The handlers run in the publisher (console, beat) and in the workers, so the history is durable
across restarts of either. A Redis error here is logged and swallowed: history must never make a
task fail.

Hash fields of ``cc:task:<id>``: id, name, state, queue, worker, args, kwargs (redacted JSON text
for display), args_json / kwargs_json (exact JSON for "retry with the same arguments", only when
under ARGS_JSON_MAX_BYTES), eta, expires, retries, parent_id, root_id, retry_of, sent_at,
received_at, started_at, finished_at, updated_at (epoch seconds), runtime_s, result, exception,
traceback, progress (JSON), reason, pid.
"""
from __future__ import annotations

import bisect
import json
import logging
import os
import re
import time
from datetime import datetime, timezone
from typing import Any

from celery import signals

from app.monitor import keys
from app.telemetry.redaction import redact, to_text

log = logging.getLogger(__name__)

SENT_AT_HEADER = "cc_sent_at"
RETRY_OF_HEADER = "cc_retry_of"
ARGS_JSON_MAX_BYTES = 64 * 1024
#: Args-text search indexes words of 3-40 characters, at most MAX_WORDS per task.
MAX_WORDS = 24
_WORD_RE = re.compile(r"[\w.@-]{3,40}", re.UNICODE)
_started_monotonic: dict[str, float] = {}
#: Node name seen at RECEIVED, for pools whose task.request.hostname is a bare host name (threads, solo).
_received_by: dict[str, str] = {}
_config: dict[str, Any] = {"client": None, "retention_s": 7 * 86_400, "max_tasks": 1_000_000}


def configure(client_factory, retention_s: int, max_tasks: int) -> None:
    """Set where history goes: `client_factory()` returns a redis.Redis (called lazily, per process)."""
    _config.update(client_factory=client_factory, client=None, pid=None,
                   retention_s=retention_s, max_tasks=max_tasks)


def _client():
    if _config.get("client") is None or _config.get("pid") != os.getpid():
        factory = _config.get("client_factory")
        if factory is None:
            return None
        _config["client"] = factory()
        _config["pid"] = os.getpid()
    return _config["client"]


def words(text: str) -> list[str]:
    """Lower-case search tokens of `text` (see MAX_WORDS), in first-seen order."""
    out = dict.fromkeys(w.lower().strip(".-") for w in _WORD_RE.findall(text or ""))
    return [w for w in out if len(w) >= 3][:MAX_WORDS]


def bucket_for(runtime_s: float) -> str:
    """The histogram bucket (upper bound, as text) a runtime falls into."""
    i = bisect.bisect_left(keys.RUNTIME_BUCKETS_S, runtime_s)
    return str(keys.RUNTIME_BUCKETS_S[min(i, len(keys.RUNTIME_BUCKETS_S) - 1)])


def add_commands(pipe, task_id: str, state: str, fields: dict[str, Any], *, now: float,
                 name: str | None = None, queue: str | None = None, worker: str | None = None,
                 first_seen: bool = False, search_text: str | None = None,
                 parent_id: str | None = None, info: str | None = None) -> None:
    """Queue on `pipe` every command of one state change (see module docstring)."""
    retention_s = _config["retention_s"]
    mapping = {k: v for k, v in fields.items() if v is not None}
    mapping.update(id=task_id, state=state, updated_at=now)
    for key, value in (("name", name), ("queue", queue), ("worker", worker)):
        if value:
            mapping[key] = value
    hkey = keys.task(task_id)
    pipe.hset(hkey, mapping=mapping)
    pipe.expire(hkey, retention_s)
    tl = keys.timeline(task_id)
    pipe.rpush(tl, json.dumps({"state": state, "at": now, "info": info}, ensure_ascii=False))
    pipe.expire(tl, retention_s)
    for other in keys.STATES:
        if other != state:
            pipe.zrem(keys.state_index(other), task_id)
    pipe.zadd(keys.state_index(state), {task_id: now})
    pipe.zadd(keys.TASKS_ALL, {task_id: now}, nx=True)
    if name:
        pipe.zadd(keys.name_index(name), {task_id: now}, nx=True)
        pipe.sadd(keys.TASK_NAMES, name)
    if queue:
        pipe.zadd(keys.queue_index(queue), {task_id: now}, nx=True)
    if worker:
        pipe.zadd(keys.worker_index(worker), {task_id: now}, nx=True)
    if search_text:
        tokens = words(search_text)
        for w in tokens:
            pipe.zadd(keys.word_index(w), {task_id: now}, nx=True)
        if tokens:
            pipe.zadd(keys.WORDS, dict.fromkeys(tokens, now))
    if parent_id:
        pipe.sadd(keys.children(parent_id), task_id)
        pipe.expire(keys.children(parent_id), retention_s)
    minute = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d%H%M")
    ckey = keys.counter(state, minute)
    pipe.incr(ckey)
    pipe.expire(ckey, keys.COUNTER_TTL_S)
    runtime_s = fields.get("runtime_s")
    if state in ("SUCCESS", "FAILURE") and runtime_s is not None and name:
        pipe.hincrby(keys.runtime_histogram(name), bucket_for(float(runtime_s)), 1)
        pipe.hincrbyfloat(keys.runtime_histogram(name), "sum", float(runtime_s))
    if worker and state in ("SUCCESS", "FAILURE", "RETRY", "REVOKED"):
        pipe.hincrby(keys.worker_counts(worker), state, 1)
    if first_seen:
        pipe.zremrangebyrank(keys.TASKS_ALL, 0, -(_config["max_tasks"] + 1))


def record(task_id: str, state: str, fields: dict[str, Any], **kwargs: Any) -> None:
    """Write one state change of `task_id` in one round trip (arguments as `add_commands`)."""
    client = _client()
    if client is None or not task_id:
        return
    try:
        pipe = client.pipeline(transaction=False)
        add_commands(pipe, task_id, state, fields, now=time.time(), **kwargs)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - history must never fail a task
        log.warning("task history write failed for %s (%s): %s", task_id, state, exc)


def record_progress(task_id: str, meta: dict[str, Any]) -> None:
    """Record a PROGRESS update (meta as given to `update_state`)."""
    record(task_id, "PROGRESS", {"progress": to_text(meta, 1_000)},
           info=str(meta.get("message") or "")[:200] or None)


def _exact_json(value: Any) -> str | None:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return None
    return text if len(text.encode()) <= ARGS_JSON_MAX_BYTES else None


def _worker_of(request) -> str | None:
    """The worker's node name (``name@host``); None when only a bare host name is known (some pools
    set request.hostname to it), so the node name recorded at RECEIVED is kept."""
    hostname = getattr(request, "hostname", None)
    return hostname if hostname and "@" in hostname else None


@signals.before_task_publish.connect
def _on_publish(sender=None, body=None, exchange=None, routing_key=None, headers=None, **_):
    headers = headers if headers is not None else {}
    now = time.time()
    headers.setdefault(SENT_AT_HEADER, now)
    task_id = headers.get("id")
    retries = int(headers.get("retries") or 0)
    if retries:
        return  # a retry re-publish: task_retry records it
    args, kwargs = (body[0], body[1]) if isinstance(body, (list, tuple)) and len(body) >= 2 else ((), {})
    shown_args, shown_kwargs = to_text(list(args)), to_text(dict(kwargs))
    record(task_id, "SENT", {
        "sent_at": now, "args": shown_args, "kwargs": shown_kwargs,
        "args_json": _exact_json(list(args)), "kwargs_json": _exact_json(dict(kwargs)),
        "eta": headers.get("eta"), "expires": headers.get("expires"),
        "parent_id": headers.get("parent_id"), "root_id": headers.get("root_id"),
        "retry_of": headers.get(RETRY_OF_HEADER), "retries": retries,
    }, name=headers.get("task") or sender, queue=routing_key or None, first_seen=True,
        search_text=f"{task_id} {json.dumps(redact([list(args), dict(kwargs)]), default=str, ensure_ascii=False)}",
        parent_id=headers.get("parent_id"))


@signals.task_received.connect
def _on_received(sender=None, request=None, **_):
    if request is None:
        return
    info = request.delivery_info or {}
    eta = request.eta.isoformat() if hasattr(request.eta, "isoformat") else request.eta
    if _worker_of(request) and len(_received_by) < 100_000:
        _received_by[request.id] = request.hostname
    record(request.id, "RECEIVED", {"received_at": time.time(), "eta": eta},
           name=request.name, queue=info.get("routing_key"), worker=_worker_of(request), first_seen=True)


@signals.task_prerun.connect
def _on_prerun(task_id=None, task=None, args=None, kwargs=None, **_):
    _started_monotonic[task_id] = time.monotonic()
    req = task.request
    info = req.delivery_info or {}
    record(task_id, "STARTED", {"started_at": time.time(), "retries": req.retries, "pid": os.getpid()},
           name=task.name, queue=info.get("routing_key"), worker=_worker_of(req) or _received_by.get(task_id),
           first_seen=True,
           info=req.hostname)


@signals.task_postrun.connect
def _on_postrun(task_id=None, task=None, retval=None, state=None, **_):
    started = _started_monotonic.pop(task_id, None)
    runtime_s = round(time.monotonic() - started, 6) if started is not None else None
    worker = _worker_of(task.request) or _received_by.get(task_id)
    _received_by.pop(task_id, None)
    if state == "SUCCESS":
        record(task_id, "SUCCESS", {"finished_at": time.time(), "runtime_s": runtime_s,
                                    "result": to_text(retval, 8_000)}, name=task.name, worker=worker)
    elif state == "FAILURE":
        record(task_id, "FAILURE", {"finished_at": time.time(), "runtime_s": runtime_s},
               name=task.name, worker=worker)


@signals.task_failure.connect
def _on_failure(task_id=None, exception=None, einfo=None, sender=None, **_):
    message = f"{type(exception).__name__}: {exception}"[:2_000]
    record(task_id, "FAILURE", {
        "finished_at": time.time(), "exception": message,
        "traceback": str(einfo)[-8_000:] if einfo else None,
    }, name=getattr(sender, "name", None), info=message[:200])


@signals.task_retry.connect
def _on_retry(request=None, reason=None, einfo=None, **_):
    if request is None:
        return
    record(request.id, "RETRY", {"reason": str(reason)[:2_000], "retries": (request.retries or 0) + 1,
                                 "traceback": str(einfo)[-8_000:] if einfo else None},
           worker=_worker_of(request), info=str(reason)[:200])


@signals.task_revoked.connect
def _on_revoked(request=None, terminated=None, signum=None, expired=None, **_):
    if request is None:
        return
    why = "expired" if expired else ("terminated" if terminated else "revoked")
    record(request.id, "REVOKED", {"finished_at": time.time(), "reason": why},
           name=getattr(request, "name", None) or getattr(request, "task", None),
           worker=_worker_of(request), info=why)
