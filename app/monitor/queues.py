"""Queues as the monitor shows them: the data shapes both brokers fill (`QueueDepths`,
`QueueDetail`; `app.monitor.brokers`), kombu's message envelope, and which queues to measure.

The Redis broker's reads are `app.monitor.brokers.redis_lists`; RabbitMQ's `app.monitor.brokers.amqp`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from app.store import queues_seen


@dataclass(frozen=True)
class QueueDepths:
    """`ready`: queue name -> waiting messages; `unacked`: reserved by workers, all queues (None when
    the broker cannot tell: RabbitMQ without its management API)."""

    ready: dict[str, int]
    unacked: int | None

    @property
    def total_ready(self) -> int:
        return sum(self.ready.values())


@dataclass
class QueueDetail:
    """One queue: ready messages, reserved (unacked) and ETA-held among them, consumers and latency.

    `latency_s` is the age of the oldest waiting message (from the ``cc_sent_at`` header stamped at
    publish time by `app.telemetry.recorder` on Redis; the AMQP ``timestamp`` property through the
    RabbitMQ management API; else from the history's sent time or when the console first saw the
    message at the head of the queue, `app.monitor.latency`), None when the queue is empty or the
    age is unknown. `latency_lower_bound` is True when the age is a lower bound (first seen at the
    head). `head_id` is the task id of the next message a worker takes when the broker tells it
    and no publish time was stamped on it (Redis).
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
    latency_lower_bound: bool = False
    head_id: str | None = None

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


def monitored(client, configured: tuple[str, ...] | list[str], limit: int = 50,
              app: str | None = None) -> tuple[str, ...]:
    """Queue names the monitor measures for monitored app `app` (default the console's):
    `configured` (MONITOR_QUEUES, or the app's queues) first, then the queues seen in that app's
    Celery events or active_queues replies (`app.store.queues_seen`, newest first, at most `limit`).

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    seen = queues_seen.newest(client, limit, app)
    return tuple(dict.fromkeys([*configured, *sorted(seen)]))
