"""The broker behind the queues, behind one small interface: Redis lists or RabbitMQ (AMQP) queues.

The console's own store (history, workers, audit) and the result backend stay on Redis
(REDIS_URL); only the broker (CELERY_BROKER_URL) differs. Every monitor feature that reads or
changes queues goes through a `Broker`:

- ``depths(queues, live=False) -> QueueDepths``: ready messages per queue, unacked total (None =
  unknown), read now on both brokers (`live` asks for that explicitly; kept for callers). What the
  monitor's snapshot reads every refresh: one round trip, whatever the number of messages waiting.
- ``details(queues, consumers, now=None) -> list[QueueDetail]``: ready, reserved (unacked),
  ETA-held, consumers (online workers from heartbeats; ``broker_consumers`` as the broker counts
  them), latency (age of the oldest ready message) — a field the broker cannot tell is None with
  the reason in ``QueueDetail.unknown``.
- ``purge(queue) -> int``: delete the ready messages of one queue, returns how many.
- ``find_waiting(queue, task_id)`` / ``find_reserved(task_id)``: where a task's message is, used by
  "why stuck"; only when ``locates_messages`` (Redis). RabbitMQ cannot show a message without
  taking it off the queue, so there the diagnosis reads the task's recorded state instead.
- ``head(queue, n) -> list[str]``: the raw messages a worker takes next (peek). Redis only: not
  part of the `Broker` protocol, callers check ``locates_messages`` first.
- ``ping()``, ``close()``, ``kind`` ("redis" | "amqp"), ``display_url`` (no password).

Errors: every method raises `app.errors.BrokerUnavailable` (an OSError) when the broker cannot be
reached.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from app.monitor.queues import QueueDepths, QueueDetail

__all__ = ["Broker", "QueueDepths", "QueueDetail", "coerce", "for_app", "from_url", "for_settings", "kind_of", "safe_url"]

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp", "librabbitmq")
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+socket")


@runtime_checkable
class Broker(Protocol):
    kind: str
    locates_messages: bool
    display_url: str

    def depths(self, queues, live: bool = False) -> QueueDepths: ...

    def details(self, queues, consumers: dict[str, list[str]], now: float | None = None) -> list[QueueDetail]: ...

    def purge(self, queue: str) -> int: ...

    def find_waiting(self, queue: str, task_id: str): ...

    def find_reserved(self, task_id: str): ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def kind_of(url: str) -> str:
    """"amqp" or "redis" for a broker URL.

    Raises:
        ValueError: any other scheme (the console supports these two brokers).
    """
    scheme = urlsplit(url).scheme.lower().split("+")[0] if "://" in url else ""
    if scheme in AMQP_SCHEMES:
        return "amqp"
    if scheme in REDIS_SCHEMES or scheme == "redis":
        return "redis"
    raise ValueError(f"Broker URL scheme {scheme or url!r} is not supported: use redis://, rediss://, "
                     "unix:// (Redis) or amqp://, amqps:// (RabbitMQ).")


def safe_url(url: str) -> str:
    """`url` without its password (for pages and logs)."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def from_url(url: str, management_url: str | None = None, priority_steps=None) -> Broker:
    """The `Broker` for `url`; `management_url` (RabbitMQ management API) only matters for AMQP,
    `priority_steps` (the publishers' kombu transport option; None = kombu's 0, 3, 6, 9) for Redis.

    Raises:
        ValueError: unsupported scheme.
    """
    if kind_of(url) == "amqp":
        from app.monitor.brokers.amqp import AmqpBroker

        return AmqpBroker(url, management_url)
    from app.monitor.brokers.redis import RedisBroker
    from app.store.clients import redis_from_url

    return RedisBroker(redis_from_url(url), url, priority_steps)


def for_app(app, management_url: str | None = None) -> Broker:
    """The `Broker` of a Celery app's ``broker_url``, reading the priority steps it publishes with
    (``broker_transport_options['priority_steps']``) on Redis.

    Raises:
        ValueError: unsupported scheme.
    """
    steps = (app.conf.broker_transport_options or {}).get("priority_steps")
    return from_url(str(app.conf.broker_url), management_url, steps)


def for_settings(settings, priority_steps=None) -> Broker:
    """The broker of CELERY_BROKER_URL (else REDIS_URL), with RABBITMQ_MANAGEMENT_URL when set, its
    Redis lists counted with `priority_steps` or, when not given, the steps the console's Celery app
    (the process runtime's, `app.runtime`) publishes with."""
    if priority_steps is None:
        from app import runtime

        priority_steps = (runtime.get().celery.conf.broker_transport_options or {}).get("priority_steps")
    mgmt = settings.RABBITMQ_MANAGEMENT_URL
    return from_url(settings.broker_url, mgmt.get_secret_value() if mgmt else None, priority_steps)


def coerce(broker) -> Broker:
    """`broker` as a `Broker`: a Broker is returned as is, a `redis.Redis` client is wrapped."""
    if isinstance(broker, Broker):
        return broker
    from app.monitor.brokers.redis import RedisBroker

    return RedisBroker(broker)
