"""The Redis broker's queues read in place: kombu's lists per queue and priority step, and its
``unacked`` hash (Celery's own keys, named in `app.store.keys`).

Ready messages of a queue = sum of LLEN over its priority lists (`keys.priority_lists`, one per
priority step the publishers use: the transport option ``priority_steps``, kombu's 0, 3, 6, 9 unless
configured; every function takes `steps`), as Flower's utils/broker.py does. Messages a worker has prefetched (including ETA/countdown tasks it
holds) are in kombu's ``unacked`` hash, not in the lists, so they are reported apart.

`depths` and `details` run as one Lua script (EVALSHA) over every list: LLEN and LINDEX -1 are O(1),
so their cost grows with the number of queues, never with the messages waiting. One script call
instead of a pipeline of 4-8 commands per queue saves the client ~12 us of redis-py work per command
(bench/bench_scale.py: 50 queues, 1.9 ms -> 0.5 ms CPU). A server that refuses scripts (ACL without
EVALSHA) gets the same reads as one pipeline.

Every function takes a redis.Redis (decode_responses=True) on the broker database and raises
redis.RedisError when it cannot be reached; `app.monitor.brokers.redis.RedisBroker` wraps them.
"""
from __future__ import annotations

from pathlib import Path
import json
import time
from datetime import datetime

import redis

from app.monitor.queues import QueueDepths, QueueDetail, parse_message
from app.store import keys
from app.store.headers import SENT_AT_HEADER


#: KEYS: the priority lists of every queue (ARGV[1] per queue, in order), then the unacked hash;
#: ARGV[2] "1" adds each list's oldest message (LINDEX -1; false when empty). Returns per queue its
#: ready count (then, with ARGV[2], one oldest message per list), and last the unacked count.
_READ_LUA = Path(__file__).with_name("redis_lists_read.lua").read_text(encoding="utf-8")


def _read(broker, queues, with_oldest: bool, steps: tuple[int, ...] = keys.PRIORITY_STEPS) -> list:
    """Per queue: ready count (then, `with_oldest`, the oldest message of each priority list or
    None), and last the unacked count: one EVALSHA, or one pipeline where scripts are refused."""
    lists = [name for q in queues for name in keys.priority_lists(q, steps)]
    per = len(steps)
    try:  # EVALSHA; redis-py loads the script on NOSCRIPT
        return broker.register_script(_READ_LUA)(keys=[*lists, keys.UNACKED], args=[per, int(with_oldest)])
    except redis.ResponseError:  # scripts refused (NOPERM, unknown command); a WRONGTYPE re-raises below
        return _read_pipelined(broker, queues, with_oldest, steps)


def _read_pipelined(broker, queues, with_oldest: bool, steps: tuple[int, ...] = keys.PRIORITY_STEPS) -> list:
    """`_read` as one pipeline of LLEN (and LINDEX) per list (for servers without scripting)."""
    per = len(steps)
    pipe = broker.pipeline(transaction=False)
    for q in queues:
        for name in keys.priority_lists(q, steps):
            pipe.llen(name)
        if with_oldest:
            for name in keys.priority_lists(q, steps):
                pipe.lindex(name, -1)
    pipe.hlen(keys.UNACKED)
    replies = pipe.execute()
    step, out = per * (2 if with_oldest else 1), []
    for i in range(len(queues)):
        chunk = replies[i * step:(i + 1) * step]
        out.append(sum(int(x) for x in chunk[:per]))
        out.extend(chunk[per:])
    out.append(replies[-1])
    return out


def depths(broker, queues: tuple[str, ...] | list[str],
           steps: tuple[int, ...] = keys.PRIORITY_STEPS) -> QueueDepths:
    """Ready counts for `queues` and the broker-wide unacked count, in one round trip (see the
    module docstring), independent of how many messages wait.

    Args:
        broker: redis.Redis connected to the broker database.
        steps: the publishers' priority steps (transport option ``priority_steps``; kombu's default
            0, 3, 6, 9): one list per step is counted.
    Raises:
        redis.RedisError: the broker cannot be reached.
    """
    queues = list(queues)
    replies = _read(broker, queues, with_oldest=False, steps=steps)
    return QueueDepths(ready={q: int(n) for q, n in zip(queues, replies)}, unacked=int(replies[-1]))


def _eta_epoch(eta) -> float | None:
    if not eta:
        return None
    try:
        return datetime.fromisoformat(str(eta)).timestamp()
    except ValueError:
        return None


def details(broker, queue_names, consumers: dict[str, list[str]], now: float | None = None,
            max_unacked_scan: int = 10_000, steps: tuple[int, ...] = keys.PRIORITY_STEPS) -> list[QueueDetail]:
    """Per-queue detail in one round trip (lengths + oldest message per list, one script), plus one
    HVALS of the unacked hash when it holds entries.

    The unacked hash is walked only when it holds at most `max_unacked_scan` entries (prefetched and
    ETA tasks; normally a handful per worker); above that, reserved/ETA counts per queue are 0 and
    the broker-wide count from `depths` still holds.
    """
    now = time.time() if now is None else now
    queue_names = list(queue_names)
    replies = _read(broker, queue_names, with_oldest=True, steps=steps)
    per = 1 + len(steps)
    out = []
    for i, q in enumerate(queue_names):
        ready, *tails = replies[i * per:(i + 1) * per]
        heads = [parse_message(m).get("headers") or {} for m in tails if m]
        stamps = [float(h[SENT_AT_HEADER]) for h in heads if h.get(SENT_AT_HEADER)]
        out.append(QueueDetail(name=q, ready=int(ready), consumers=consumers.get(q, []),
                               latency_s=round(now - min(stamps), 3) if stamps else None,
                               head_id=None if stamps or not heads else heads[0].get("id")))
    unacked = int(replies[-1])
    if 0 < unacked <= max_unacked_scan:
        by_name = {d.name: d for d in out}
        for raw in broker.hvals(keys.UNACKED):
            try:
                msg, _exchange, routing_key = json.loads(raw)
            except (TypeError, ValueError):
                continue
            d = by_name.get(routing_key)
            if d is None:
                continue
            d.reserved += 1
            eta = _eta_epoch((msg.get("headers") or {}).get("eta"))
            if eta and eta > now:
                d.eta_held += 1
    return out


def find_waiting(broker, queue: str, task_id: str, max_scan: int = 50_000, chunk: int = 1_000,
                 steps: tuple[int, ...] = keys.PRIORITY_STEPS):
    """Where `task_id` waits in `queue`: ``(position from the head (0 = next), message)`` or None.

    Scans at most `max_scan` messages per priority list (one per step of `steps`), oldest first.
    """
    position = 0
    for name in keys.priority_lists(queue, steps):
        length = int(broker.llen(name))
        scanned = 0
        while scanned < min(length, max_scan):
            start = -(scanned + chunk)
            batch = broker.lrange(name, start, -(scanned + 1))
            for offset, raw in enumerate(reversed(batch)):
                msg = parse_message(raw)
                if (msg.get("headers") or {}).get("id") == task_id:
                    return position + scanned + offset, msg
            scanned += len(batch)
            if not batch:
                break
        position += length
    return None


def find_reserved(broker, task_id: str, max_scan: int = 10_000):
    """The unacked (reserved by a worker) message of `task_id`, or None."""
    if int(broker.hlen(keys.UNACKED)) > max_scan:
        return None
    for raw in broker.hvals(keys.UNACKED):
        try:
            msg, _exchange, routing_key = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if (msg.get("headers") or {}).get("id") == task_id:
            return msg
    return None


def purge(broker, queue: str, steps: tuple[int, ...] = keys.PRIORITY_STEPS) -> int:
    """Delete every ready message of `queue` (all priority lists); returns how many were removed.

    Reserved (unacked) messages are left to the workers holding them.
    """
    lists = keys.priority_lists(queue, steps)
    pipe = broker.pipeline(transaction=True)
    for name in lists:
        pipe.llen(name)
    for name in lists:
        pipe.delete(name)
    replies = pipe.execute()
    return sum(int(x) for x in replies[:len(lists)])


def head(broker, queue: str, n: int, steps: tuple[int, ...] = keys.PRIORITY_STEPS) -> list[str]:
    """The raw messages (kombu's JSON envelopes) a worker would take next from `queue`, at most `n`,
    next first, without taking them: one pipelined LRANGE per priority list (kombu pushes on the
    left and pops on the right, and serves the lists in priority-step order), so the cost is
    bounded by `n`, not the queue length."""
    pipe = broker.pipeline(transaction=False)
    for name in keys.priority_lists(queue, steps):
        pipe.lrange(name, -n, -1)
    out: list[str] = []
    for raws in pipe.execute():
        for raw in reversed(raws):
            if len(out) >= n:
                return out
            out.append(raw)
    return out
