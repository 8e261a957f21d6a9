"""Alert history: every alert fired, resolved or sent as a test, with how its delivery went.

Each event is a hash ``cc:alert:event:<id>`` indexed by time in ``cc:alert:events``; the newest
`max_events` are kept (older ones are removed when a new one is written). Delivery outcomes are
fields ``email`` / ``webhook`` updated by the delivery tasks (queued, sent, retrying …, failed …).
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

from app.store import keys

DEFAULT_MAX_EVENTS = 1_000


def new_id() -> str:
    """A fresh event id; also the idempotency key of its deliveries."""
    return f"ae-{uuid.uuid4().hex[:16]}"


def write(client, event: dict[str, Any], max_events: int = DEFAULT_MAX_EVENTS) -> dict[str, Any]:
    """Store `event` (``{id?, at?, rule_id, rule_name, kind, severity, status: fired|resolved|test,
    message, subjects: {subject: detail}}``); returns it with its id and time.

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    event = dict(event)
    event.setdefault("id", new_id())
    event.setdefault("at", time.time())
    flat = {k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v))
            for k, v in event.items() if v is not None}
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.alert_event(event["id"]), mapping=flat)
    pipe.zadd(keys.ALERT_EVENTS, {event["id"]: event["at"]})
    pipe.zrange(keys.ALERT_EVENTS, 0, -(max_events + 1))
    old = pipe.execute()[-1]
    if old:
        pipe = client.pipeline(transaction=False)
        pipe.zrem(keys.ALERT_EVENTS, *old)
        pipe.delete(*(keys.alert_event(i) for i in old))
        pipe.execute()
    return event


def set_delivery(client, event_id: str, channel: str, outcome: str) -> None:
    """Record how delivery of `event_id` over `channel` (email / webhook) went."""
    client.hset(keys.alert_event(event_id), channel, outcome[:500])


def _decode(raw: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(raw)
    if "at" in out:
        out["at"] = float(out["at"])
    if "subjects" in out:
        try:
            out["subjects"] = json.loads(out["subjects"])
        except ValueError:
            pass
    return out


def get(client, event_id: str) -> dict[str, Any] | None:
    raw = client.hgetall(keys.alert_event(event_id))
    return _decode(raw) if raw else None


def recent(client, limit: int = 100, rule_id: str | None = None) -> list[dict[str, Any]]:
    """Newest-first events (at most `limit`; with `rule_id`, that rule's among the newest 1000)."""
    ids = client.zrevrange(keys.ALERT_EVENTS, 0, (limit if rule_id is None else 1_000) - 1)
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for i in ids:
        pipe.hgetall(keys.alert_event(i))
    out = [_decode(raw) for raw in pipe.execute() if raw]
    if rule_id is not None:
        out = [e for e in out if e.get("rule_id") == rule_id]
    return out[:limit]
