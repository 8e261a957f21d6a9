"""Queue depths read straight from the Redis broker, in one pipelined round trip.

Ready messages of a queue = sum of LLEN over its priority lists (`keys.priority_lists`), as
Flower's utils/broker.py does. Messages a worker has prefetched (including ETA/countdown tasks it
holds) are in kombu's ``unacked`` hash, not in the lists, so they are reported apart.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.monitor import keys


@dataclass(frozen=True)
class QueueDepths:
    """`ready`: queue name -> waiting messages; `unacked`: reserved by workers, all queues."""

    ready: dict[str, int]
    unacked: int

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
