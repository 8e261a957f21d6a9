"""Queues an operator paused (``cc:paused``, a hash queue -> JSON ``{"at": epoch s, "who": name}``,
no expiry): the flag outlives worker restarts, so a worker starting later does not consume a
paused queue. Written and read by `app.monitor.queue_control`, read by the alert checks."""
from __future__ import annotations

import json
from typing import Any

from app.store import keys


def paused(client) -> dict[str, dict[str, Any]]:
    """Queue -> ``{at, who}`` for every paused queue (``{}`` for an undecodable entry; one HGETALL).

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    out = {}
    for queue, raw in client.hgetall(keys.PAUSED_QUEUES).items():
        try:
            out[queue] = json.loads(raw)
        except ValueError:
            out[queue] = {}
    return out


def names(client) -> set[str]:
    """The paused queues' names (one HKEYS)."""
    return set(client.hkeys(keys.PAUSED_QUEUES))


def pause(client, queue: str, who: str, at: float) -> None:
    """Flag `queue` as paused by `who` at `at` (epoch s)."""
    client.hset(keys.PAUSED_QUEUES, queue, json.dumps({"at": at, "who": who}))


def resume(client, queue: str) -> bool:
    """Remove the flag of `queue`; True when it was paused."""
    return bool(client.hdel(keys.PAUSED_QUEUES, queue))
