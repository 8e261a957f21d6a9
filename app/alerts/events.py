"""Alert history: every alert fired, resolved or sent as a test, with how its delivery went.

Events are stored by `app.store.alerts` (one hash per event, indexed by time); the newest
`max_events` are kept (older ones are removed when a new one is written). Delivery outcomes are
fields ``email`` / ``webhook`` updated by the delivery tasks (queued, sent, retrying …, failed …).
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

from app.store import alerts as store

DEFAULT_MAX_EVENTS = 1_000


def new_id() -> str:
    """A fresh event id; also the idempotency key of its deliveries."""
    return f"ae-{uuid.uuid4().hex[:16]}"


def write(client, event: dict[str, Any], max_events: int = DEFAULT_MAX_EVENTS) -> dict[str, Any]:
    """Store `event` (``{id?, at?, rule_id, rule_name, kind, severity, status: fired|resolved|test,
    message, subjects: {subject: detail}}``); returns it with its id and time.

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    event = dict(event)
    event.setdefault("id", new_id())
    event.setdefault("at", time.time())
    flat = {k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v))
            for k, v in event.items() if v is not None}
    store.add_event(client, event["id"], event["at"], flat, max_events)
    return event


def set_delivery(client, event_id: str, channel: str, outcome: str) -> None:
    """Record how delivery of `event_id` over `channel` (email / webhook) went."""
    store.set_event_field(client, event_id, channel, outcome[:500])


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
    raw = store.event(client, event_id)
    return _decode(raw) if raw else None


def recent(client, limit: int = 100, rule_id: str | None = None) -> list[dict[str, Any]]:
    """Newest-first events (at most `limit`; with `rule_id`, that rule's among the newest 1000)."""
    out = [_decode(raw) for raw in store.newest_events(client, limit if rule_id is None else 1_000)]
    if rule_id is not None:
        out = [e for e in out if e.get("rule_id") == rule_id]
    return out[:limit]
