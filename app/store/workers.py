"""Workers as they report themselves: by the console's Redis heartbeat and by their Celery events.

Keys (`app.store.keys`):

- ``cc:workers``          sorted set, hostname scored by its last heartbeat (epoch s; negative once
                          it signed off), written by `app.telemetry.heartbeat`.
- ``cc:worker:<host>``    hash, the worker's latest self-report (status, pool, concurrency, queues
                          and active as JSON, ...), expires 7 days after its last heartbeat.
- ``cc:wcount:<host>``    hash, finished tasks per state (SUCCESS/FAILURE/RETRY/REVOKED) of that
                          worker, written by `app.store.writer`; no expiry.
- ``cc:evworkers``        sorted set, hostname scored by its last Celery event (epoch s; 0 after
                          worker-offline), written by the event ingester through `record_event`.
- ``cc:evworker:<host>``  hash, the worker as its events (and remote-control replies) describe it
                          (fields in `app.monitor.event_workers`), expires EVENT_WORKER_TTL_S after
                          its last event.

Hashes are returned raw (str -> str); `app.monitor.workers` decodes them. Every function raises
`app.store.clients.StoreError` when Redis cannot be reached.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from app.store import keys, queues_seen

#: How long an event-known worker's hash outlives its last event.
EVENT_WORKER_TTL_S = 7 * 86_400
#: How long a worker's heartbeat hash outlives its last heartbeat.
HEARTBEAT_TTL_S = 7 * 86_400
_READ_ALL_LUA = Path(__file__).with_name("workers_read.lua").read_text(encoding="utf-8")


def heartbeats(client, limit: int = 200) -> list[tuple[str, float]]:
    """``[(hostname, last heartbeat score)]`` newest first, at most `limit` (one ZREVRANGE)."""
    return client.zrevrange(keys.WORKERS, 0, limit - 1, withscores=True)


def read_all(client, limit: int = 200) -> tuple[list[tuple[str, float]], dict[str, tuple[float, dict[str, str]]],
                                                 list[dict[str, str]], dict[str, dict[str, str]]]:
    """Every known worker in one round trip (a server-side script): (`heartbeats` (hostname,
    score) newest first, at most `limit`; `event_workers` (hostname -> (score, raw hash)), at most
    `limit`, those whose hash expired left out; the heartbeat hash of each heartbeat hostname, in
    order ({} once expired); hostname -> finished-task counts by state, for every hostname of
    either index)."""
    beats, events, reports, event_hashes, counts = client.register_script(_READ_ALL_LUA)(
        keys=[keys.WORKERS, keys.EVENT_WORKERS],
        args=[limit, keys.worker(""), keys.event_worker(""), keys.worker_counts("")])
    hosts = [(beats[i], float(beats[i + 1])) for i in range(0, len(beats), 2)]
    ev_hosts = [(events[i], float(events[i + 1])) for i in range(0, len(events), 2)]
    names = list(dict.fromkeys([h for h, _ in hosts] + [h for h, _ in ev_hosts]))
    return (hosts, {h: (s, _pairs(raw)) for (h, s), raw in zip(ev_hosts, event_hashes) if raw},
            [_pairs(raw) for raw in reports], {h: _pairs(raw) for h, raw in zip(names, counts)})


def _pairs(flat: list[str]) -> dict[str, str]:
    it = iter(flat)
    return dict(zip(it, it))


def record_heartbeat(client, host: str, report: dict[str, str], at: float, online: bool) -> None:
    """Write `host`'s self-report `report` (flat str fields) into ``cc:worker:<host>`` (renewing its
    expiry, HEARTBEAT_TTL_S) and score `host` in ``cc:workers`` with `at` (epoch s), or with ``-at``
    when it signs off (not `online`): one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.worker(host), mapping=report)
    pipe.expire(keys.worker(host), HEARTBEAT_TTL_S)
    pipe.zadd(keys.WORKERS, {host: at if online else -at})
    pipe.execute()


def forget_heartbeats(client, before: float) -> int:
    """Drop from ``cc:workers`` every node whose last heartbeat or sign-off is older than `before`
    (epoch s; scores in ``-before..before``); their hashes expire by themselves. Returns how many
    left (one ZREMRANGEBYSCORE)."""
    return int(client.zremrangebyscore(keys.WORKERS, -before, before))


def heartbeat_status(client, host: str) -> str | None:
    """The ``status`` field of `host`'s heartbeat hash ("online" / "offline"), None when unknown."""
    return client.hget(keys.worker(host), "status")


def event_workers(client, limit: int = 200) -> dict[str, tuple[float, dict[str, str]]]:
    """Event-known workers: hostname -> (last event score, raw hash), newest first (one ZREVRANGE,
    then one pipelined HGETALL when there are any); a worker whose hash expired is left out."""
    hosts = client.zrevrange(keys.EVENT_WORKERS, 0, limit - 1, withscores=True)
    if not hosts:
        return {}
    pipe = client.pipeline(transaction=False)
    for host, _ in hosts:
        pipe.hgetall(keys.event_worker(host))
    return {h: (s, raw) for (h, s), raw in zip(hosts, pipe.execute()) if raw}


def hostnames(client, limit: int = 100) -> list[str]:
    """Worker node names: heartbeat workers first, then those known from events only, at most
    `limit` (two ZREVRANGEs)."""
    heartbeat = client.zrevrange(keys.WORKERS, 0, limit - 1)
    return list(dict.fromkeys([*heartbeat, *client.zrevrange(keys.EVENT_WORKERS, 0, limit - 1)]))[:limit]


def record_event(client, host: str, fields: dict[str, Any], at: float, online: bool) -> None:
    """Write a worker event's `fields` into ``cc:evworker:<host>`` (renewing its expiry) and score
    `host` `at` (0 when not `online`): one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.event_worker(host), mapping=fields)
    pipe.expire(keys.event_worker(host), EVENT_WORKER_TTL_S)
    pipe.zadd(keys.EVENT_WORKERS, {host: at if online else 0})
    pipe.execute()


def record_details(client, by_host: dict[str, dict[str, Any]], queues: list[str], now: float,
                   app: str | None = None) -> None:
    """Add remote-control details (`by_host`: hostname -> fields such as queues, pool,
    concurrency) to the event workers' hashes and mark `queues` of monitored app `app` seen at
    `now`: one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    queues_seen.add(pipe, queues, now, app)
    for host, fields in by_host.items():
        if fields:
            pipe.hset(keys.event_worker(host), mapping=fields)
    pipe.execute()


def event_worker_fields(client, host: str, *fields: str) -> list[str | None]:
    """Fields of `host`'s event hash (e.g. ``app``, ``queues``), None where unset (one HMGET)."""
    return client.hmget(keys.event_worker(host), list(fields))
