"""Finished and failed tasks per UTC minute by task name and queue, for failure-rate alerts.

``cc:rate:<YYYYmmddHHMM>`` is a hash per minute with fields ``T|n|<name>`` / ``F|n|<name>`` (all /
failed runs by task name) and ``T|q|<queue>`` / ``F|q|<queue>`` (by queue), counts as integers;
written by `app.store.writer` with each finished task; its expiry is set to COUNTER_TTL_S (2 days)
on every write.
"""
from __future__ import annotations

from datetime import datetime, timezone

from app.store import keys


def last_minutes(client, minutes: int, now: float) -> list[dict[str, str]]:
    """The counts hash of each of the last `minutes` UTC minutes up to the one holding `now`
    (epoch s), oldest first (``{}`` for a minute without finished tasks): one pipelined round trip.

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    end = int(now // 60)
    labels = [datetime.fromtimestamp((end - i) * 60, timezone.utc).strftime("%Y%m%d%H%M")
              for i in range(minutes - 1, -1, -1)]
    pipe = client.pipeline(transaction=False)
    for label in labels:
        pipe.hgetall(keys.rate_counts(label))
    return pipe.execute()
