"""Queue depths read straight from the Redis broker, in one pipelined round trip.

The data shapes (`QueueDepths`, `QueueDetail`) are shared by both brokers (`app.monitor.brokers`);
the functions here are the Redis implementation (`app.monitor.brokers.redis.RedisBroker`).

Ready messages of a queue = sum of LLEN over its priority lists (`keys.priority_lists`), as
Flower's utils/broker.py does. Messages a worker has prefetched (including ETA/countdown tasks it
holds) are in kombu's ``unacked`` hash, not in the lists, so they are reported apart.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime

from app.store import keys
from app.store.headers import SENT_AT_HEADER


@dataclass(frozen=True)
class QueueDepths:
    """`ready`: queue name -> waiting messages; `unacked`: reserved by workers, all queues (None when
    the broker cannot tell: RabbitMQ without its management API)."""

    ready: dict[str, int]
    unacked: int | None

    @property
    def total_ready(self) -> int:
        return sum(self.ready.values())


def depths(broker, queues: tuple[str, ...] | list[str]) -> QueueDepths:
    """Ready counts for `queues` and the broker-wide unacked count, in one round trip.

    Args:
        broker: redis.Redis connected to the broker database.
    Raises:
        redis.RedisError: the broker cannot be reached.
    """
    pipe = broker.pipeline(transaction=False)
    for q in queues:
        for name in keys.priority_lists(q):
            pipe.llen(name)
    pipe.hlen(keys.UNACKED)
    replies = pipe.execute()
    per = len(keys.PRIORITY_STEPS)
    ready = {q: sum(int(x) for x in replies[i * per:(i + 1) * per]) for i, q in enumerate(queues)}
    return QueueDepths(ready=ready, unacked=int(replies[-1]))


@dataclass
class QueueDetail:
    """One queue: ready messages, reserved (unacked) and ETA-held among them, consumers and latency.

    `latency_s` is the age of the oldest waiting message (from the ``cc_sent_at`` header stamped at
    publish time by `app.telemetry.recorder` on Redis; the AMQP ``timestamp`` property through the
    RabbitMQ management API), None when the queue is empty or the age is unknown.
    `consumers` are the online workers consuming the queue (heartbeats); `broker_consumers` is the
    broker's own consumer count (RabbitMQ; None on Redis, which does not keep one).
    A field the broker cannot tell is None and `unknown` maps its name to the reason.
    """

    name: str
    ready: int = 0
    reserved: int | None = 0
    eta_held: int | None = 0
    consumers: list[str] | None = None
    latency_s: float | None = None
    broker_consumers: int | None = None
    unknown: dict[str, str] = field(default_factory=dict)

    @property
    def stuck(self) -> bool:
        """Messages waiting and nobody consuming the queue (neither an online worker nor, where the
        broker counts them, any consumer at all)."""
        return self.ready > 0 and not self.consumers and not self.broker_consumers


def parse_message(raw: str | bytes) -> dict:
    """kombu's Redis message envelope (JSON) → dict; {} when it is not JSON."""
    try:
        msg = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return msg if isinstance(msg, dict) else {}


def _eta_epoch(eta) -> float | None:
    if not eta:
        return None
    try:
        return datetime.fromisoformat(str(eta)).timestamp()
    except ValueError:
        return None


def details(broker, queue_names, consumers: dict[str, list[str]], now: float | None = None,
            max_unacked_scan: int = 10_000) -> list[QueueDetail]:
    """Per-queue detail in two round trips (lengths + oldest message per list; the unacked hash).

    The unacked hash is walked only when it holds at most `max_unacked_scan` entries (prefetched and
    ETA tasks; normally a handful per worker); above that, reserved/ETA counts per queue are 0 and
    the broker-wide count from `depths` still holds.
    """
    now = time.time() if now is None else now
    pipe = broker.pipeline(transaction=False)
    for q in queue_names:
        for name in keys.priority_lists(q):
            pipe.llen(name)
            pipe.lindex(name, -1)
    pipe.hlen(keys.UNACKED)
    replies = pipe.execute()
    per = 2 * len(keys.PRIORITY_STEPS)
    out = []
    for i, q in enumerate(queue_names):
        chunk = replies[i * per:(i + 1) * per]
        ready = sum(int(x) for x in chunk[0::2])
        oldest = [parse_message(m).get("headers", {}).get(SENT_AT_HEADER) for m in chunk[1::2] if m]
        stamps = [float(s) for s in oldest if s]
        out.append(QueueDetail(name=q, ready=ready, consumers=consumers.get(q, []),
                               latency_s=round(now - min(stamps), 3) if stamps else None))
    unacked = int(replies[-1])
    if 0 < unacked <= max_unacked_scan:
        by_name = {d.name: d for d in out}
        for raw in broker.hvals(keys.UNACKED):
            try:
                msg, _exchange, routing_key = json.loads(raw)
            except (TypeError, ValueError):
                continue
            d = by_name.get(routing_key)
            if d is None:
                continue
            d.reserved += 1
            eta = _eta_epoch((msg.get("headers") or {}).get("eta"))
            if eta and eta > now:
                d.eta_held += 1
    return out


def find_waiting(broker, queue: str, task_id: str, max_scan: int = 50_000, chunk: int = 1_000):
    """Where `task_id` waits in `queue`: ``(position from the head (0 = next), message)`` or None.

    Scans at most `max_scan` messages per priority list, oldest first.
    """
    position = 0
    for name in keys.priority_lists(queue):
        length = int(broker.llen(name))
        scanned = 0
        while scanned < min(length, max_scan):
            start = -(scanned + chunk)
            batch = broker.lrange(name, start, -(scanned + 1))
            for offset, raw in enumerate(reversed(batch)):
                msg = parse_message(raw)
                if (msg.get("headers") or {}).get("id") == task_id:
                    return position + scanned + offset, msg
            scanned += len(batch)
            if not batch:
                break
        position += length
    return None


def find_reserved(broker, task_id: str, max_scan: int = 10_000):
    """The unacked (reserved by a worker) message of `task_id`, or None."""
    if int(broker.hlen(keys.UNACKED)) > max_scan:
        return None
    for raw in broker.hvals(keys.UNACKED):
        try:
            msg, _exchange, routing_key = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if (msg.get("headers") or {}).get("id") == task_id:
            return msg
    return None


def purge(broker, queue: str) -> int:
    """Delete every ready message of `queue` (all priority lists); returns how many were removed.

    Reserved (unacked) messages are left to the workers holding them.
    """
    lists = keys.priority_lists(queue)
    pipe = broker.pipeline(transaction=True)
    for name in lists:
        pipe.llen(name)
    for name in lists:
        pipe.delete(name)
    replies = pipe.execute()
    return sum(int(x) for x in replies[:len(lists)])


def monitored(client, configured: tuple[str, ...] | list[str], limit: int = 50) -> tuple[str, ...]:
    """Queue names the monitor measures: `configured` (MONITOR_QUEUES) first, then the queues seen
    in Celery events or active_queues replies (``cc:queues:seen``, newest first, at most `limit`).

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    seen = client.zrevrange(keys.QUEUES_SEEN, 0, limit - 1)
    return tuple(dict.fromkeys([*configured, *sorted(seen)]))
