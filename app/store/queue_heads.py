"""The message at the head of each monitored queue and when the console first saw it there
(``cc:qheads``: ``<app>|<queue>`` -> JSON ``{id, since, ready}``, no expiry; one field per queue).

A message sent by a publisher that stamps no publish time (any plain Celery client) has no age the
broker can tell; the time the console first saw it at the head of its queue is a lower bound of it.
Where the head's id is unknown (RabbitMQ), a queue whose ready count never fell since `since` still
holds the message that was its head then, so the same bound holds.
"""
from __future__ import annotations

import json
from typing import Any

from app.store import keys


def _field(app: str, queue: str) -> str:
    return f"{app}|{queue}"


def observe(client, app: str, heads: dict[str, tuple[str | None, int]], now: float) -> dict[str, float]:
    """Record what is at the head of each queue now and return, per queue, since when (epoch s).

    Args:
        heads: queue -> (head message id or None when the broker cannot tell it, ready count);
            an empty queue (ready 0) forgets its record.
    Returns:
        queue -> epoch s since when the same head has been seen (only for non-empty queues).
    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    names = list(heads)
    if not names:
        return {}
    raw = client.hmget(keys.QUEUE_HEADS, [_field(app, q) for q in names])
    out: dict[str, float] = {}
    writes: dict[str, str] = {}
    drops: list[str] = []
    for queue, old in zip(names, raw):
        head_id, ready = heads[queue]
        if ready <= 0:
            if old is not None:
                drops.append(_field(app, queue))
            continue
        prev: dict[str, Any] = {}
        if old:
            try:
                prev = json.loads(old)
            except ValueError:
                prev = {}
        same = bool(prev) and (prev.get("id") == head_id if head_id else
                               prev.get("id") is None and int(prev.get("ready") or 0) <= ready)
        since = float(prev["since"]) if same and prev.get("since") is not None else now
        out[queue] = since
        if not same or int(prev.get("ready") or 0) != ready:
            writes[_field(app, queue)] = json.dumps({"id": head_id, "since": since, "ready": ready})
    if writes or drops:
        pipe = client.pipeline(transaction=False)
        if writes:
            pipe.hset(keys.QUEUE_HEADS, mapping=writes)
        if drops:
            pipe.hdel(keys.QUEUE_HEADS, *drops)
        pipe.execute()
    return out
