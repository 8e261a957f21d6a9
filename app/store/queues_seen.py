"""Queue names seen in Celery events or in workers' active_queues replies (``cc:queues:seen``, a
sorted set of names scored by when last seen, epoch s; no expiry). Written by the event ingester
(`app.monitor.event_workers`), read by the Task Monitor to measure queues it was not told about."""
from __future__ import annotations

from app.store import keys


def add(client, names, now: float) -> None:
    """Mark queue `names` as seen at `now` (one ZADD; `client` may be a pipeline)."""
    names = list(names)
    if names:
        client.zadd(keys.QUEUES_SEEN, {name: now for name in names})


def newest(client, limit: int = 100) -> list[str]:
    """Queue names most recently seen first, at most `limit` (one ZREVRANGE).

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    return list(client.zrevrange(keys.QUEUES_SEEN, 0, limit - 1))
