"""Workers as they last reported themselves (see `app.telemetry.heartbeat`), read without inspect().

A worker is online when its last heartbeat is younger than `offline_after_s` (default 10 s, five
missed 2 s heartbeats) and it did not sign off.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from app.store import keys


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


def _parse(host: str, raw: dict, score: float, now: float, offline_after_s: float,
           counts: dict | None = None) -> WorkerInfo:
    def j(name, default):
        try:
            return json.loads(raw.get(name) or "null") or default
        except ValueError:
            return default
    online = raw.get("status") == "online" and now - score < offline_after_s
    return WorkerInfo(hostname=host, online=online, last_heartbeat=float(raw.get("last_heartbeat") or score),
                      pool=raw.get("pool", ""), concurrency=int(raw.get("concurrency") or 0),
                      queues=j("queues", []), active=j("active", []) if online else [],
                      reserved=int(raw.get("reserved") or 0), processed=int(raw.get("processed") or 0),
                      loadavg=j("loadavg", []), pid=int(raw.get("pid") or 0),
                      failed=int((counts or {}).get("FAILURE") or 0), retried=int((counts or {}).get("RETRY") or 0))


def list_workers(client, offline_after_s: float = 10.0, limit: int = 200,
                 now: float | None = None) -> list[WorkerInfo]:
    """Known workers with their failed/retried counts, most recent heartbeat first (two round trips).

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    now = time.time() if now is None else now
    hosts = client.zrevrange(keys.WORKERS, 0, limit - 1, withscores=True)
    if not hosts:
        return []
    pipe = client.pipeline(transaction=False)
    for host, _ in hosts:
        pipe.hgetall(keys.worker(host))
        pipe.hgetall(keys.worker_counts(host))
    replies = pipe.execute()
    return [_parse(h, raw, s, now, offline_after_s, counts)
            for (h, s), raw, counts in zip(hosts, replies[0::2], replies[1::2]) if raw]


def hostnames(client, limit: int = 100) -> list[str]:
    """Known worker node names, most recent heartbeat first (one ZREVRANGE).

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    return list(client.zrevrange(keys.WORKERS, 0, limit - 1))


def consumers_by_queue(workers: list[WorkerInfo]) -> dict[str, list[str]]:
    """Queue name -> hostnames of online workers consuming it."""
    out: dict[str, list[str]] = {}
    for w in workers:
        if w.online:
            for q in w.queues:
                out.setdefault(q, []).append(w.hostname)
    return out
