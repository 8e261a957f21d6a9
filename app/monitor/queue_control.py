"""Queue pause/resume (remembered in Redis, so workers that start later honour it) and peek.

Pause: the queue is flagged paused first (`app.store.pauses`), then every worker is told to cancel its
consumer (`app.telemetry.queue_pause.cc_pause_queue`); a worker starting while it is paused does not
consume it (`PausedQueues` bootstep). Messages stay in the queue; messages a worker had already
reserved still run. Resume removes the flag, then tells every worker started with that queue to
consume it again. Both are audited by the caller's action layer (`app.monitor.actions`).

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
from app.store import pauses
from app.telemetry.redaction import to_text

REPLY_TIMEOUT_S = 1.0
PEEK_MAX = 100


def paused(client) -> dict[str, dict[str, Any]]:
    """Queue -> ``{at (epoch s), who}`` for every paused queue."""
    return pauses.paused(client)


def _replies(replies) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for reply in replies or []:
        merged.update(reply)
    return merged


def pause(app, client, queue: str, who: str) -> dict[str, Any]:
    """Remember `queue` as paused, then tell every worker to stop consuming it.

    Returns ``{'ok', 'queue', 'replies': {worker: {'ok': 'paused q' | 'not consuming q'}}}``.
    """
    pauses.pause(client, queue, who, time.time())
    replies = _replies(app.control.broadcast("cc_pause_queue", arguments={"queue": queue}, reply=True,
                                             timeout=REPLY_TIMEOUT_S))
    return {"ok": True, "queue": queue, "replies": replies}


def resume(app, client, queue: str) -> dict[str, Any]:
    """Forget the pause of `queue`, then tell the workers started with it to consume it again.

    Returns ``{'ok', 'queue', 'was_paused', 'replies'}``.
    """
    was = pauses.resume(client, queue)
    replies = _replies(app.control.broadcast("cc_resume_queue", arguments={"queue": queue}, reply=True,
                                             timeout=REPLY_TIMEOUT_S))
    return {"ok": True, "queue": queue, "was_paused": was, "replies": replies}


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
