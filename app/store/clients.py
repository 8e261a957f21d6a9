"""Redis clients for the console and the telemetry writers, built from settings on demand.

No module-level connections: callers build a client here and pass it into the monitor functions.
"""
from __future__ import annotations

import redis

#: The errors a caller outside the store catches when Redis fails, so that only the store (and the
#: broker adapters) import redis: `StoreError` is any error redis-py raises; `STORE_DOWN` the tuple
#: for "Redis is not answering" (a refused/reset connection or a timeout also surfaces as OSError).
StoreError = redis.RedisError
StoreConnectionError = redis.ConnectionError
StoreTimeoutError = redis.TimeoutError
#: Redis is up but still loading its data set into memory (answers LOADING until it is done).
StoreBusyLoadingError = redis.BusyLoadingError
#: A redis-py lock (`Client.lock`) could not be extended or released: it expired or another client
#: holds it (`LockNotOwnedError` is a subclass).
StoreLockError = redis.exceptions.LockError
STORE_DOWN: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
#: Type of the client objects this module hands out (for annotations outside the store).
Client = redis.Redis

#: Socket timeouts so a dead Redis gives a quick, clear error instead of a hung page.
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0


def redis_from_url(url: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                   socket_timeout_s: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A `redis.Redis` for `url` returning str values (decode_responses=True).

    Raises:
        ValueError: the URL is not a redis:// / rediss:// / unix:// URL.
    """
    return redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=connect_timeout_s,
                                socket_timeout=socket_timeout_s, health_check_interval=30)
