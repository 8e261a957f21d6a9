"""Run-at-most-once locks for periodic work: a redis-py `Lock` with an expiry, never waited on.

Preventing duplicate runs: a task that must not overlap takes a Redis lock with an
expiry; a second run that finds the lock held skips instead of waiting. The expiry bounds how long
a crashed holder (killed worker, lost connection) can block the next run: give the task's hard
time limit, so the lock can never outlive the run that took it.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError

from app.store import keys

log = logging.getLogger(__name__)


@contextmanager
def exclusive(client, name: str, ttl_s: float) -> Iterator[bool]:
    """Hold the lock ``cc:lock:<name>`` for the block, or yield False at once if someone holds it.

    Usage::

        with exclusive(client, "cleanup_old_results", ttl_s=660) as acquired:
            if not acquired:
                return skipped(...)
            ...

    Args:
        client: redis.Redis.
        name: the lock's name (one per kind of work, e.g. the task's short name).
        ttl_s: expiry in seconds (> 0); after it the lock frees itself.
    Raises:
        ValueError: ttl_s is not positive.
        redis.RedisError: Redis cannot be reached.
    """
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
    lock = client.lock(keys.lock(name), timeout=ttl_s, blocking=False)
    acquired = lock.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:
                # The expiry passed while we worked: someone else may hold it now; leave theirs alone.
                log.warning("lock %s expired before the work finished (ttl %s s)", name, ttl_s)


def holder_ttl_s(client, name: str) -> float | None:
    """Seconds left on lock `name`, or None when nobody holds it."""
    ttl_ms = client.pttl(keys.lock(name))
    return ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else None
