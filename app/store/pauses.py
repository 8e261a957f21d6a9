"""Queues an operator paused, per monitored app (``cc:paused`` for the console's own app,
``cc:paused:<app>`` for another: a hash queue -> JSON ``{"at": epoch s, "who": name, "workers":
[hostnames told to stop consuming it]}``, no expiry): the flag outlives worker restarts, so a worker
starting later does not consume a paused queue. Written and read by `app.monitor.queue_control`,
read by the alert checks."""
from __future__ import annotations

import json
from typing import Any

from app.store import keys


def paused(client, app: str | None = None) -> dict[str, dict[str, Any]]:
    """Queue -> ``{at, who, workers?}`` for every paused queue of `app` (``{}`` for an undecodable
    entry; one HGETALL).

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    out = {}
    for queue, raw in client.hgetall(keys.paused_queues(app)).items():
        try:
            out[queue] = json.loads(raw)
        except ValueError:
            out[queue] = {}
    return out


def names(client, app: str | None = None) -> set[str]:
    """The paused queues' names of `app` (one HKEYS)."""
    return set(client.hkeys(keys.paused_queues(app)))


def pause(client, queue: str, who: str, at: float, app: str | None = None,
          workers: list[str] | None = None) -> None:
    """Flag `queue` of `app` as paused by `who` at `at` (epoch s), `workers` told to stop consuming it."""
    record: dict[str, Any] = {"at": at, "who": who}
    if workers is not None:
        record["workers"] = sorted(set(workers))
    client.hset(keys.paused_queues(app), queue, json.dumps(record))


def add_workers(client, queue: str, workers: list[str], app: str | None = None) -> None:
    """Add `workers` to the hostnames a paused `queue` was cancelled on (no-op when not paused)."""
    current = paused(client, app).get(queue)
    if current is None:
        return
    current["workers"] = sorted(set(current.get("workers") or []) | set(workers))
    client.hset(keys.paused_queues(app), queue, json.dumps(current))


def resume(client, queue: str, app: str | None = None) -> bool:
    """Remove the flag of `queue` of `app`; True when it was paused."""
    return bool(client.hdel(keys.paused_queues(app), queue))
