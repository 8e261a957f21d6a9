"""The Redis broker: kombu's lists per queue and priority step, and its ``unacked`` hash.

Thin wrapper over `app.monitor.brokers.redis_lists` (one script call or pipeline per read; see that
module for the key layout).
Everything is known on Redis: a message can be read in place, so "why stuck" can give a waiting
task's position and find the worker's reservation.
"""
from __future__ import annotations

import redis

from app.errors import BrokerUnavailable
from app.monitor.brokers import redis_lists
from app.monitor.queues import QueueDepths, QueueDetail
from app.store import keys


class RedisBroker:
    """`Broker` on a `redis.Redis` client (decode_responses=True) connected to the broker database.

    `priority_steps` are the publishers' kombu priority steps (transport option ``priority_steps``;
    None = kombu's default 0, 3, 6, 9): every read and purge covers one list per step.
    """

    kind = "redis"
    locates_messages = True

    def __init__(self, client: redis.Redis, url: str | None = None, priority_steps=None):
        from app.monitor.brokers import safe_url

        self.client = client
        self.steps = tuple(sorted({int(s) for s in priority_steps})) if priority_steps else keys.PRIORITY_STEPS
        if url is None:
            kw = client.connection_pool.connection_kwargs
            url = f"redis://{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"
        self.display_url = safe_url(url)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BrokerUnavailable(f"Redis broker at {self.display_url} is unreachable: {exc}") from exc

    def depths(self, queue_names, live: bool = False) -> QueueDepths:
        """Ready per queue and the unacked total (always live on Redis)."""
        return self._call(redis_lists.depths, self.client, list(queue_names), self.steps)

    def details(self, queue_names, consumers, now=None) -> list[QueueDetail]:
        return self._call(redis_lists.details, self.client, list(queue_names), consumers, now=now, steps=self.steps)

    def purge(self, queue: str) -> int:
        return self._call(redis_lists.purge, self.client, queue, self.steps)

    def find_waiting(self, queue: str, task_id: str):
        return self._call(redis_lists.find_waiting, self.client, queue, task_id, steps=self.steps)

    def find_reserved(self, task_id: str):
        return self._call(redis_lists.find_reserved, self.client, task_id)

    def head(self, queue: str, n: int) -> list[str]:
        """The raw messages a worker would take next from `queue`, at most `n`, next first (read in
        place; Redis only: `locates_messages`)."""
        return self._call(redis_lists.head, self.client, queue, n, self.steps)

    def ping(self) -> None:
        self._call(self.client.ping)

    def close(self) -> None:
        self.client.close()
