"""Queue names seen in Celery events or in workers' active_queues replies, per monitored app
(``cc:queues:seen`` for the console's own app, ``cc:queues:seen:<app>`` for another: a sorted set of
names scored by when last seen, epoch s; no expiry). Written by the event ingester
(`app.monitor.event_workers`), read by the Task Monitor to measure queues it was not told about."""
from __future__ import annotations

from app.store import keys


def add(client, names, now: float, app: str | None = None) -> None:
    """Mark queue `names` of app `app` as seen at `now` (one ZADD; `client` may be a pipeline)."""
    names = list(names)
    if names:
        client.zadd(keys.queues_seen(app), {name: now for name in names})


def newest(client, limit: int = 100, app: str | None = None) -> list[str]:
    """Queue names of app `app` most recently seen first, at most `limit` (one ZREVRANGE).

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    return list(client.zrevrange(keys.queues_seen(app), 0, limit - 1))
