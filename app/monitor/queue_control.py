"""Queue pause/resume (remembered in Redis, so workers that start later honour it) and peek.

Pause, the console's own app: the queue is flagged paused first (`app.store.pauses`), then every
worker is told to cancel its consumer (`app.telemetry.queue_pause.cc_pause_queue`); a console worker
starting while it is paused does not consume it (`PausedQueues` bootstep). Resume removes the flag,
then tells every worker started with that queue to consume it again.

Pause, any other monitored app (`app.monitor.apps`; its workers run code the console does not
ship): Celery's standard ``cancel_consumer`` broadcast on that app's broker, and the workers that
stopped consuming are remembered with the flag; a worker of that app that comes online consuming a
paused queue is told to cancel it too (`reapply`, called by that app's event ingester when it first
sees the worker: best effort, the worker may have taken a message before the command reaches it).
Resume sends ``add_consumer`` to exactly the remembered workers, so no worker takes a queue it was
not consuming. Messages stay in the queue either way; messages a worker had already reserved still
run. Both are audited by the caller's action layer (`app.monitor.actions`).

Peek reads the first N waiting messages (the next ones a worker will take: priority lists in
consumption order, oldest first within each) with LRANGE, which never removes anything.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any

from app.errors import InvalidInput
from app.monitor import brokers, queues
from app.monitor.apps import CONSOLE
from app.store import pauses
from app.telemetry.redaction import to_text

REPLY_TIMEOUT_S = 1.0
PEEK_MAX = 100


def paused(client, app_name: str = CONSOLE) -> dict[str, dict[str, Any]]:
    """Queue -> ``{at (epoch s), who, workers?}`` for every paused queue of app `app_name`."""
    return pauses.paused(client, app_name)


def _replies(replies) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for reply in replies or []:
        merged.update(reply)
    return merged


def _consuming(app, queue: str, destination: list[str] | None = None) -> list[str]:
    """Workers of `app` whose ``active_queues`` reply includes `queue` (Celery's cancel_consumer
    answers "no longer consuming" whether or not the worker consumed it, so ask first)."""
    replies = app.control.inspect(destination=destination, timeout=REPLY_TIMEOUT_S).active_queues() or {}
    return sorted(h for h, qs in replies.items() if any((q or {}).get("name") == queue for q in qs or []))


def pause(app, client, queue: str, who: str, app_name: str = CONSOLE) -> dict[str, Any]:
    """Remember `queue` of app `app_name` as paused, then tell every worker (of `app`, the Celery app
    on that app's broker) to stop consuming it.

    Returns ``{'ok', 'queue', 'replies': {worker: reply}}``.
    """
    if app_name == CONSOLE:
        pauses.pause(client, queue, who, time.time())
        replies = _replies(app.control.broadcast("cc_pause_queue", arguments={"queue": queue}, reply=True,
                                                 timeout=REPLY_TIMEOUT_S))
        return {"ok": True, "queue": queue, "replies": replies}
    pauses.pause(client, queue, who, time.time(), app_name, workers=[])
    consumers = _consuming(app, queue)
    replies = _replies(app.control.cancel_consumer(queue, reply=True, timeout=REPLY_TIMEOUT_S))
    pauses.add_workers(client, queue, consumers, app_name)
    return {"ok": True, "queue": queue, "replies": replies}


def resume(app, client, queue: str, app_name: str = CONSOLE) -> dict[str, Any]:
    """Forget the pause of `queue`, then tell the workers that consumed it to consume it again.

    Returns ``{'ok', 'queue', 'was_paused', 'replies'}``.
    """
    if app_name == CONSOLE:
        was = pauses.resume(client, queue)
        replies = _replies(app.control.broadcast("cc_resume_queue", arguments={"queue": queue}, reply=True,
                                                 timeout=REPLY_TIMEOUT_S))
        return {"ok": True, "queue": queue, "was_paused": was, "replies": replies}
    record = pauses.paused(client, app_name).get(queue)
    was = pauses.resume(client, queue, app_name)
    hosts = list((record or {}).get("workers") or [])
    replies = _replies(app.control.add_consumer(queue, destination=hosts, reply=True, timeout=REPLY_TIMEOUT_S)) \
        if hosts else {}
    return {"ok": True, "queue": queue, "was_paused": was, "replies": replies}


def reapply(app, client, app_name: str, host_queues: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Tell workers of app `app_name` that consume a queue paused for it to cancel it.

    Args:
        host_queues: hostname -> queues it consumes (an ``active_queues`` reply, names only).
    Returns:
        ``[(hostname, queue)]`` told to cancel. The console's own app is left to its workers'
        bootstep (returns []).
    """
    if app_name == CONSOLE:
        return []
    paused_now = pauses.names(client, app_name)
    told: list[tuple[str, str]] = []
    for host, names in host_queues.items():
        for queue in set(names) & paused_now:
            replies = _replies(app.control.cancel_consumer(queue, destination=[host], reply=True,
                                                           timeout=REPLY_TIMEOUT_S))
            pauses.add_workers(client, queue, [host], app_name)
            if replies:
                told.append((host, queue))
    return told


def _decode_body(msg: dict) -> tuple[Any, Any]:
    body = msg.get("body")
    try:
        if (msg.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        data = json.loads(body)
    except (TypeError, ValueError):
        return None, None
    if isinstance(data, list) and len(data) >= 2:
        return data[0], data[1]
    return None, None


def summary(msg: dict, now: float) -> dict[str, Any]:
    """One waiting message as the console shows it: ``{id, task, age_s, priority, eta, args,
    kwargs}`` with args/kwargs redacted (`app.telemetry.redaction`) and cut to 500 characters."""
    headers = msg.get("headers") or {}
    args, kwargs = _decode_body(msg)
    sent = headers.get("cc_sent_at")
    try:
        age_s = round(now - float(sent), 1) if sent else None
    except (TypeError, ValueError):
        age_s = None
    return {"id": headers.get("id"), "task": headers.get("task"), "age_s": age_s,
            "priority": (msg.get("properties") or {}).get("priority"), "eta": headers.get("eta"),
            "args": to_text(args, 500) if args is not None else "",
            "kwargs": to_text(kwargs, 500) if kwargs is not None else ""}


def peek(broker, queue: str, n: int = 20, now: float | None = None) -> list[dict[str, Any]]:
    """The first `n` (1..PEEK_MAX) messages a worker would take from `queue`, without taking them.

    One pipelined LRANGE per priority list (kombu pushes on the left and pops on the right, and
    serves the lists in priority-step order), so the cost is bounded by `n`, not the queue length.

    Args:
        broker: an `app.monitor.brokers.Broker` (or a redis.Redis on the broker database).
    Raises:
        ValueError: `n` outside 1..PEEK_MAX.
        InvalidInput: the broker cannot read messages in place (RabbitMQ).
        BrokerUnavailable: the broker cannot be reached.
    """
    if not 1 <= n <= PEEK_MAX:
        raise ValueError(f"n must be between 1 and {PEEK_MAX}, got {n}")
    broker = brokers.coerce(broker)
    if not broker.locates_messages:
        raise InvalidInput(f"Peek needs a broker that can read a message without taking it; the "
                           f"{broker.kind} broker cannot (RabbitMQ hands a message out to read it).")
    now = time.time() if now is None else now
    return [summary(queues.parse_message(raw), now) for raw in broker.head(queue, n)]
