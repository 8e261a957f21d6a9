"""Workers as their Celery events describe them (worker-online / worker-heartbeat / worker-offline).

Written by the event ingester (`app.monitor.events`) into ``cc:evworker:<host>`` (hash) and
``cc:evworkers`` (host scored by its last event time; 0 after worker-offline), read by
`app.monitor.workers.list_workers`, which joins them with the Redis-heartbeat workers.

Hash fields: hostname, status (online/offline), freq (heartbeat period, s), sw_ident, sw_ver,
sw_sys, active (tasks running), processed (tasks run since start), loadavg (JSON list),
last_event (epoch s), and from remote-control replies when the ingester could inspect the worker:
queues (JSON list), pool, concurrency.

A worker counts as online while its last event is younger than max(offline_after_s, 2 × freq)
(Celery's own rule is 2 × freq: celery.events.state.HEARTBEAT_EXPIRE_WINDOW).
"""
from __future__ import annotations

import json
import time
from typing import Any

from app.store import keys

#: A queue seen again within this long is not re-written to ``cc:queues:seen``.
QUEUE_SEEN_REFRESH_S = 60.0
WORKER_TTL_S = 7 * 86_400


class WorkerRecorder:
    """Writes worker events and seen queue names into the history Redis (`history` client)."""

    def __init__(self, history):
        self.history = history
        self._queues_written: dict[str, float] = {}

    def on_event(self, event: dict[str, Any]) -> str | None:
        """Record a worker-* event; returns the worker's hostname (None for other events)."""
        kind, host = event.get("type", ""), event.get("hostname")
        if not host or kind not in ("worker-online", "worker-heartbeat", "worker-offline"):
            return None
        at = float(event.get("timestamp") or time.time())
        online = kind != "worker-offline"
        data = {"hostname": host, "status": "online" if online else "offline", "last_event": at}
        for field in ("freq", "sw_ident", "sw_ver", "sw_sys", "active", "processed"):
            if event.get(field) is not None:
                data[field] = event[field]
        if event.get("loadavg") is not None:
            data["loadavg"] = json.dumps([round(float(x), 2) for x in event["loadavg"]])
        pipe = self.history.pipeline(transaction=False)
        pipe.hset(keys.event_worker(host), mapping=data)
        pipe.expire(keys.event_worker(host), WORKER_TTL_S)
        pipe.zadd(keys.EVENT_WORKERS, {host: at if online else 0})
        pipe.execute()
        return host

    def saw_queue(self, queue: str, now: float | None = None) -> None:
        """Note a queue name seen in events (written at most once a minute per name)."""
        now = time.time() if now is None else now
        if now - self._queues_written.get(queue, 0.0) < QUEUE_SEEN_REFRESH_S:
            return
        self._queues_written[queue] = now
        self.history.zadd(keys.QUEUES_SEEN, {queue: now})

    def on_inspect(self, queues: dict[str, list], stats: dict[str, dict]) -> None:
        """Record `active_queues` and `stats` replies (``{hostname: reply}``, as Celery's inspect)."""
        pipe = self.history.pipeline(transaction=False)
        now = time.time()
        for host in set(queues) | set(stats):
            data: dict[str, Any] = {}
            names = sorted(q.get("name") for q in queues.get(host) or [] if q.get("name"))
            if host in queues:
                data["queues"] = json.dumps(names)
                for name in names:
                    pipe.zadd(keys.QUEUES_SEEN, {name: now})
            pool = (stats.get(host) or {}).get("pool") or {}
            if pool:
                # "celery.concurrency.prefork:TaskPool" -> "prefork" (the heartbeat's naming)
                data["pool"] = str(pool.get("implementation", "")).split(":", 1)[0].rsplit(".", 1)[-1]
                data["concurrency"] = int(pool.get("max-concurrency") or 0)
            if data:
                pipe.hset(keys.event_worker(host), mapping=data)
        pipe.execute()


def read(client, limit: int = 200) -> dict[str, tuple[float, dict[str, str]]]:
    """Event-known workers: hostname -> (score, raw hash), newest first (two round trips)."""
    hosts = client.zrevrange(keys.EVENT_WORKERS, 0, limit - 1, withscores=True)
    if not hosts:
        return {}
    pipe = client.pipeline(transaction=False)
    for host, _ in hosts:
        pipe.hgetall(keys.event_worker(host))
    return {h: (s, raw) for (h, s), raw in zip(hosts, pipe.execute()) if raw}


def is_online(raw: dict[str, str], now: float, offline_after_s: float) -> bool:
    """The module docstring's rule."""
    if raw.get("status") != "online":
        return False
    try:
        last, freq = float(raw.get("last_event") or 0), float(raw.get("freq") or 0)
    except ValueError:
        return False
    return now - last < max(offline_after_s, 2 * freq)


def queues_seen(client, limit: int = 100) -> list[str]:
    """Queue names seen in events or active_queues replies, most recently seen first."""
    return list(client.zrevrange(keys.QUEUES_SEEN, 0, limit - 1))
