"""The Redis server itself, not any key: is it answering, how much memory it uses, where it keeps
its files. For the health checks, the memory alert and the launcher (which must tell the embedded
server it started from another one listening on the same port)."""
from __future__ import annotations

import time
from typing import Any

import redis


def ping_ms(client) -> float:
    """Round-trip time of one PING, in milliseconds.

    Raises:
        StoreError / OSError: the server does not answer (`app.store.clients.STORE_DOWN`).
    """
    t0 = time.perf_counter()
    client.ping()
    return (time.perf_counter() - t0) * 1000


def memory(client) -> dict[str, Any]:
    """``INFO memory`` as a dict (``used_memory``, ``maxmemory`` in bytes, ...)."""
    return client.info("memory")


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """True when a Redis server at `url` replies to PING within `timeout_s` (never raises)."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def data_dir(url: str, timeout_s: float = 1.0) -> str | None:
    """The directory the server at `url` keeps its files in (``CONFIG GET dir``), or None when it
    cannot be reached, refuses the password or the command (never raises)."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
                                      decode_responses=True)
        try:
            return client.config_get("dir").get("dir", "")
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return None
