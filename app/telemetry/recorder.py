"""Task history writer: Celery signal handlers that keep the index in `app.monitor.keys`.

Each state change is one pipelined round trip (MULTI-less pipeline): update the task hash, move the
id between state indexes, add it to the name/queue/worker indexes, bump the per-minute counter and
refresh the hash's TTL. The handlers run in the publisher (console, beat) and in the workers, so the
history is durable across restarts of either. A Redis error here is logged and swallowed: history
must never make a task fail.

Hash fields of ``cc:task:<id>``: id, name, state, queue, worker, args, kwargs, eta, retries,
parent_id, root_id, sent_at, received_at, started_at, finished_at, updated_at (epoch seconds),
runtime_s, result, exception, traceback, progress (JSON), reason.
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from typing import Any

from celery import signals

from app.monitor import keys
from app.telemetry.redaction import to_text

log = logging.getLogger(__name__)

SENT_AT_HEADER = "cc_sent_at"
_started_monotonic: dict[str, float] = {}
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


def record(task_id: str, state: str, fields: dict[str, Any], *, name: str | None = None,
           queue: str | None = None, worker: str | None = None, first_seen: bool = False) -> None:
    """Write one state change of `task_id` in one round trip.

    Args:
        state: one of `keys.STATES`.
        fields: hash fields to set (values str/int/float; None values are skipped).
        name/queue/worker: add the id to those indexes when given.
        first_seen: also add to the global index (NX, so the first time wins).
    """
    client = _client()
    if client is None or not task_id:
        return
    now = time.time()
    mapping = {k: v for k, v in fields.items() if v is not None}
    mapping.update(id=task_id, state=state, updated_at=now)
    if name:
        mapping["name"] = name
    if queue:
        mapping["queue"] = queue
    if worker:
        mapping["worker"] = worker
    minute = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d%H%M")
    hkey = keys.task(task_id)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hset(hkey, mapping=mapping)
        pipe.expire(hkey, _config["retention_s"])
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
        ckey = keys.counter(state, minute)
        pipe.incr(ckey)
        pipe.expire(ckey, keys.COUNTER_TTL_S)
        if first_seen:
            pipe.zremrangebyrank(keys.TASKS_ALL, 0, -(_config["max_tasks"] + 1))
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - history must never fail a task
        log.warning("task history write failed for %s (%s): %s", task_id, state, exc)


def record_progress(task_id: str, meta: dict[str, Any]) -> None:
    """Record a PROGRESS update (meta as given to `update_state`)."""
    record(task_id, "PROGRESS", {"progress": to_text(meta, 1_000)})


@signals.before_task_publish.connect
def _on_publish(sender=None, body=None, exchange=None, routing_key=None, headers=None, **_):
    headers = headers if headers is not None else {}
    now = time.time()
    headers.setdefault(SENT_AT_HEADER, now)
    task_id = headers.get("id")
    retries = int(headers.get("retries") or 0)
    if retries:
        return  # a retry re-publish: task_retry records it
    record(task_id, "SENT", {
        "sent_at": now, "args": headers.get("argsrepr"), "kwargs": headers.get("kwargsrepr"),
        "eta": headers.get("eta"), "parent_id": headers.get("parent_id"),
        "root_id": headers.get("root_id"), "retries": retries,
    }, name=headers.get("task") or sender, queue=routing_key or None, first_seen=True)


@signals.task_received.connect
def _on_received(sender=None, request=None, **_):
    if request is None:
        return
    info = request.delivery_info or {}
    record(request.id, "RECEIVED", {"received_at": time.time(), "eta": request.eta},
           name=request.name, queue=info.get("routing_key"), worker=request.hostname, first_seen=True)


@signals.task_prerun.connect
def _on_prerun(task_id=None, task=None, args=None, kwargs=None, **_):
    _started_monotonic[task_id] = time.monotonic()
    req = task.request
    info = req.delivery_info or {}
    record(task_id, "STARTED", {
        "started_at": time.time(), "retries": req.retries, "pid": os.getpid(),
        "args": to_text(list(args or ())), "kwargs": to_text(dict(kwargs or {})),
    }, name=task.name, queue=info.get("routing_key"), worker=req.hostname, first_seen=True)


@signals.task_postrun.connect
def _on_postrun(task_id=None, task=None, retval=None, state=None, **_):
    started = _started_monotonic.pop(task_id, None)
    runtime_s = round(time.monotonic() - started, 6) if started is not None else None
    if state == "SUCCESS":
        record(task_id, "SUCCESS", {"finished_at": time.time(), "runtime_s": runtime_s,
                                    "result": to_text(retval)}, name=task.name)
    elif state == "FAILURE":
        record(task_id, "FAILURE", {"finished_at": time.time(), "runtime_s": runtime_s},
               name=task.name)


@signals.task_failure.connect
def _on_failure(task_id=None, exception=None, einfo=None, sender=None, **_):
    record(task_id, "FAILURE", {
        "finished_at": time.time(), "exception": f"{type(exception).__name__}: {exception}"[:2_000],
        "traceback": str(einfo)[-8_000:] if einfo else None,
    }, name=getattr(sender, "name", None))


@signals.task_retry.connect
def _on_retry(request=None, reason=None, einfo=None, **_):
    if request is None:
        return
    record(request.id, "RETRY", {"reason": str(reason)[:2_000], "retries": (request.retries or 0) + 1,
                                 "traceback": str(einfo)[-8_000:] if einfo else None})


@signals.task_revoked.connect
def _on_revoked(request=None, terminated=None, signum=None, expired=None, **_):
    if request is None:
        return
    why = "expired" if expired else ("terminated" if terminated else "revoked")
    record(request.id, "REVOKED", {"finished_at": time.time(), "reason": why}, name=request.name)
