"""Delivery counts per task attempt (capped redelivery; key `keys.deliveries`)."""
from __future__ import annotations

from app.store import keys

#: How long a task's delivery counts are kept (longer than any ETA or retry chain).
TTL_S = 2 * 86_400


def count(client, task_id: str, attempt: int) -> int:
    """Add one delivery of `task_id`'s attempt `attempt` (its retries); return the total (1 = first).

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    pipe = client.pipeline(transaction=False)  # one round trip; HINCRBY is atomic on its own
    pipe.hincrby(keys.deliveries(task_id), str(attempt), 1)
    pipe.expire(keys.deliveries(task_id), TTL_S)
    return int(pipe.execute()[0])


def total(client, task_id: str) -> int:
    """Deliveries of every attempt of `task_id` so far."""
    return sum(int(v) for v in client.hgetall(keys.deliveries(task_id)).values())
