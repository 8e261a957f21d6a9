"""Queue depth over time (for the monitor's charts) and queues that have messages but no consumer.

Written by the `monitor_queue_sizes` maintenance task (every minute by default), read by the Task
Monitor. Keys (`app.store.keys`): ``cc:qdepth:<queue>`` is a sorted set of
``"<epoch s>:<ready>:<latency s or empty>"`` scored by epoch seconds (latency = age of the oldest
waiting message, `app.monitor.brokers.redis_lists.details`), trimmed to a retention on every write; ``cc:qstuck`` is a hash
queue -> JSON ``{"since": epoch s, "ready": n}`` while the queue has ready messages and no online
consumer.
"""
from __future__ import annotations

import json
import time

from app.store import keys


def record(client, ready: dict[str, int], consumers: dict[str, list[str]], retention_s: float,
           now: float | None = None, latency_s: dict[str, float | None] | None = None) -> list[str]:
    """Append one depth point per queue, trim points older than `retention_s`, update stuck flags.

    Args:
        client: redis.Redis (decode_responses=True) on the console's database.
        ready: queue -> ready messages (`app.monitor.brokers.Broker.depths(...).ready`).
        consumers: queue -> online consumer hostnames (`app.monitor.workers.consumers_by_queue`).
        retention_s: how long points are kept, seconds.
        latency_s: queue -> age of its oldest waiting message in seconds (None: empty/unknown).
    Returns:
        The queues flagged stuck now (messages waiting, nobody consuming), sorted.
    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    now = time.time() if now is None else now
    flagged = client.hgetall(keys.QUEUE_STUCK)
    pipe = client.pipeline(transaction=False)
    stuck = []
    for queue, n in ready.items():
        lat = (latency_s or {}).get(queue)
        member = f"{now:.3f}:{int(n)}:{'' if lat is None else round(float(lat), 3)}"
        pipe.zadd(keys.queue_depth(queue), {member: now})
        pipe.zremrangebyscore(keys.queue_depth(queue), "-inf", f"({now - retention_s}")
        if n > 0 and not consumers.get(queue):
            stuck.append(queue)
            since = _since(flagged.get(queue)) or now
            pipe.hset(keys.QUEUE_STUCK, queue, json.dumps({"since": since, "ready": int(n)}))
        elif queue in flagged:
            pipe.hdel(keys.QUEUE_STUCK, queue)
    pipe.execute()
    return sorted(stuck)


def series(client, queue: str, since: float | None = None,
           until: float | None = None) -> list[tuple[float, int, float | None]]:
    """``[(epoch s, ready, latency s or None), ...]`` oldest first for `queue` between `since` and
    `until` (inclusive)."""
    raw = client.zrangebyscore(keys.queue_depth(queue), "-inf" if since is None else since,
                               "+inf" if until is None else until)
    out = []
    for member in raw:
        ts, n, lat = (member.split(":") + ["", ""])[:3]
        out.append((float(ts), int(n), float(lat) if lat else None))
    return out


def stuck(client) -> dict[str, dict]:
    """Queue -> ``{"since": epoch s, "ready": n}`` for queues flagged as having no consumer."""
    out = {}
    for queue, value in client.hgetall(keys.QUEUE_STUCK).items():
        try:
            out[queue] = json.loads(value)
        except ValueError:
            continue
    return out


def _since(value: str | None) -> float | None:
    try:
        return float(json.loads(value)["since"]) if value else None
    except (ValueError, KeyError, TypeError):
        return None
