"""Task rate limits an operator set from the console (``cc:ratelimits``, a hash task name -> rate
such as ``"10/m"``, ``""`` once cleared; no expiry). Workers get the limit by remote control; this
record lets "why stuck?" name a limit that the task's own definition does not carry."""
from __future__ import annotations

from app.store import keys


def get(client, task_name: str) -> str | None:
    """The rate set for `task_name` (``""`` when cleared), or None when never set."""
    return client.hget(keys.RATE_LIMITS, task_name)


def set_rate(client, task_name: str, rate: str) -> None:
    """Remember `rate` (``""`` or ``"0"``: no limit) as `task_name`'s limit."""
    client.hset(keys.RATE_LIMITS, task_name, rate)
