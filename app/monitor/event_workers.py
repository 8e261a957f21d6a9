"""Workers as their Celery events describe them (worker-online / worker-heartbeat / worker-offline).

Written by the event ingester (`app.monitor.events`) through `app.store.workers` (a hash per
worker, and the workers scored by their last event time; 0 after worker-offline), read by
`app.monitor.workers.list_workers`, which joins them with the Redis-heartbeat workers.

Fields: hostname, status (online/offline), freq (heartbeat period, s), sw_ident, sw_ver,
sw_sys, active (tasks running), processed (tasks run since start), loadavg (JSON list),
last_event (epoch s), app (the monitored app's name, `app.monitor.apps`), and from remote-control replies when the ingester could inspect the worker:
queues (JSON list), pool, concurrency.

A worker counts as online while its last event is younger than max(offline_after_s, 2 × freq)
(Celery's own rule is 2 × freq: celery.events.state.HEARTBEAT_EXPIRE_WINDOW).
"""
from __future__ import annotations

import json
import time
from typing import Any

from app.store import queues_seen as seen_store
from app.store import workers as store

#: A queue seen again within this long is not written again (`app.store.queues_seen`).
QUEUE_SEEN_REFRESH_S = 60.0


class WorkerRecorder:
    """Writes worker events and seen queue names into the history Redis (`history` client)."""

    def __init__(self, history, app: str = "console"):
        self.history = history
        self.app = app
        self._queues_written: dict[str, float] = {}

    def on_event(self, event: dict[str, Any]) -> str | None:
        """Record a worker-* event; returns the worker's hostname (None for other events)."""
        kind, host = event.get("type", ""), event.get("hostname")
        if not host or kind not in ("worker-online", "worker-heartbeat", "worker-offline"):
            return None
        at = float(event.get("timestamp") or time.time())
        online = kind != "worker-offline"
        data = {"hostname": host, "status": "online" if online else "offline", "last_event": at, "app": self.app}
        for field in ("freq", "sw_ident", "sw_ver", "sw_sys", "active", "processed"):
            if event.get(field) is not None:
                data[field] = event[field]
        if event.get("loadavg") is not None:
            data["loadavg"] = json.dumps([round(float(x), 2) for x in event["loadavg"]])
        store.record_event(self.history, host, data, at, online)
        return host

    def saw_queue(self, queue: str, now: float | None = None) -> None:
        """Note a queue name seen in events (written at most once a minute per name)."""
        now = time.time() if now is None else now
        if now - self._queues_written.get(queue, 0.0) < QUEUE_SEEN_REFRESH_S:
            return
        self._queues_written[queue] = now
        seen_store.add(self.history, [queue], now, self.app)

    def on_inspect(self, queues: dict[str, list], stats: dict[str, dict]) -> None:
        """Record `active_queues` and `stats` replies (``{hostname: reply}``, as Celery's inspect)."""
        now = time.time()
        by_host: dict[str, dict[str, Any]] = {}
        seen: dict[str, None] = {}
        for host in set(queues) | set(stats):
            data: dict[str, Any] = {}
            names = sorted(q.get("name") for q in queues.get(host) or [] if q.get("name"))
            if host in queues:
                data["queues"] = json.dumps(names)
                seen.update(dict.fromkeys(names))
            pool = (stats.get(host) or {}).get("pool") or {}
            if pool:
                # "celery.concurrency.prefork:TaskPool" -> "prefork" (the heartbeat's naming)
                data["pool"] = str(pool.get("implementation", "")).split(":", 1)[0].rsplit(".", 1)[-1]
                data["concurrency"] = int(pool.get("max-concurrency") or 0)
            if data:
                by_host[host] = data
        store.record_details(self.history, by_host, list(seen), now, self.app)


def read(client, limit: int = 200) -> dict[str, tuple[float, dict[str, str]]]:
    """Event-known workers: hostname -> (score, raw hash), newest first (two round trips)."""
    return store.event_workers(client, limit)


def is_online(raw: dict[str, str], now: float, offline_after_s: float) -> bool:
    """The module docstring's rule."""
    if raw.get("status") != "online":
        return False
    try:
        last, freq = float(raw.get("last_event") or 0), float(raw.get("freq") or 0)
    except ValueError:
        return False
    return now - last < max(offline_after_s, 2 * freq)


def queues_seen(client, limit: int = 100, app: str | None = None) -> list[str]:
    """Queue names of monitored app `app` seen in events or active_queues replies, most recently
    seen first."""
    return seen_store.newest(client, limit, app)
