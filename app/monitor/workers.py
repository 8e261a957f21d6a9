"""Workers as they last reported themselves (see `app.telemetry.heartbeat`), read without inspect().

A worker is online when its last heartbeat is younger than `offline_after_s` (default 10 s, five
missed 2 s heartbeats) and it did not sign off.

Workers known from Celery events (`app.monitor.event_workers`, written by the event ingester) are
joined in: a worker seen both ways is one entry with ``source == "heartbeat+events"`` (the Redis
self-report's fields win, the events add sw_ident/sw_ver and count as a sign of life); a worker of
another app seen only through its events has ``source == "events"``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from app.monitor import event_workers
from app.store import workers as store


@dataclass
class WorkerInfo:
    """One worker's self-report. Times are epoch seconds."""

    hostname: str
    online: bool
    last_heartbeat: float
    pool: str = ""
    concurrency: int = 0
    queues: list[str] = field(default_factory=list)
    active: list[dict] = field(default_factory=list)
    reserved: int = 0
    processed: int = 0
    loadavg: list[float] = field(default_factory=list)
    pid: int = 0
    failed: int = 0
    retried: int = 0
    #: Where the record comes from: "heartbeat" (Redis self-report), "events" (Celery events) or both.
    source: str = "heartbeat"
    sw_ident: str = ""
    sw_ver: str = ""
    #: Tasks running now as the worker last reported (len(active) for heartbeat workers).
    active_count: int = 0
    #: The monitored app the worker belongs to (`app.monitor.apps`; heartbeat workers are the console's).
    app: str = "console"


def _parse(host: str, raw: dict, score: float, now: float, offline_after_s: float,
           counts: dict | None = None) -> WorkerInfo:
    def j(name, default):
        try:
            return json.loads(raw.get(name) or "null") or default
        except ValueError:
            return default
    online = raw.get("status") == "online" and now - score < offline_after_s
    active = j("active", []) if online else []
    return WorkerInfo(hostname=host, online=online, last_heartbeat=float(raw.get("last_heartbeat") or score),
                      pool=raw.get("pool", ""), concurrency=int(raw.get("concurrency") or 0),
                      queues=j("queues", []), active=active,
                      reserved=int(raw.get("reserved") or 0), processed=int(raw.get("processed") or 0),
                      loadavg=j("loadavg", []), pid=int(raw.get("pid") or 0),
                      failed=int((counts or {}).get("FAILURE") or 0), retried=int((counts or {}).get("RETRY") or 0),
                      active_count=len(active))


def _join_events(info: WorkerInfo | None, host: str, raw: dict, now: float, offline_after_s: float,
                 counts: dict | None) -> WorkerInfo:
    """Merge a worker's event record into its heartbeat record (or make one from events alone)."""
    online = event_workers.is_online(raw, now, offline_after_s)
    last = float(raw.get("last_event") or 0)
    try:
        queues = json.loads(raw.get("queues") or "[]")
        loadavg = json.loads(raw.get("loadavg") or "[]")
    except ValueError:
        queues, loadavg = [], []
    if info is None:
        return WorkerInfo(hostname=host, online=online, last_heartbeat=last, pool=raw.get("pool", ""),
                          concurrency=int(raw.get("concurrency") or 0), queues=queues,
                          processed=int(raw.get("processed") or 0), loadavg=loadavg,
                          failed=int((counts or {}).get("FAILURE") or 0),
                          retried=int((counts or {}).get("RETRY") or 0), source="events",
                          sw_ident=raw.get("sw_ident", ""), sw_ver=raw.get("sw_ver", ""),
                          active_count=int(raw.get("active") or 0) if online else 0,
                          app=raw.get("app") or "console")
    info.source = "heartbeat+events"
    info.sw_ident, info.sw_ver = raw.get("sw_ident", ""), raw.get("sw_ver", "")
    if online and not info.online:
        info.online, info.active_count = True, int(raw.get("active") or 0)
    info.last_heartbeat = max(info.last_heartbeat, last)
    info.queues = info.queues or queues
    return info


def list_workers(client, offline_after_s: float = 10.0, limit: int = 200,
                 now: float | None = None) -> list[WorkerInfo]:
    """Known workers (Redis heartbeat and Celery events joined) with their failed/retried counts,
    most recent sign of life first (one round trip: `app.store.workers.read_all`).

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    now = time.time() if now is None else now
    hosts, from_events, reports, counts_of = store.read_all(client, limit)
    out = {h: _parse(h, raw, s, now, offline_after_s, counts_of.get(h))
           for (h, s), raw in zip(hosts, reports) if raw}
    for host, (_, raw) in from_events.items():
        out[host] = _join_events(out.get(host), host, raw, now, offline_after_s, counts_of.get(host))
    return sorted(out.values(), key=lambda w: w.last_heartbeat, reverse=True)


def hostnames(client, limit: int = 100) -> list[str]:
    """Known worker node names (Redis heartbeat first, then those known from events only; two ZREVRANGEs).

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    return store.hostnames(client, limit)


def consumers_by_queue(workers: list[WorkerInfo], app: str | None = None) -> dict[str, list[str]]:
    """Queue name -> hostnames of online workers consuming it (only app `app`'s workers when given)."""
    out: dict[str, list[str]] = {}
    for w in workers:
        if w.online and (app is None or w.app == app):
            for q in w.queues:
                out.setdefault(q, []).append(w.hostname)
    return out
