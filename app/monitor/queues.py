"""Queue depths read straight from the Redis broker, in one round trip.

The data shapes (`QueueDepths`, `QueueDetail`) are shared by both brokers (`app.monitor.brokers`);
the functions here are the Redis implementation (`app.monitor.brokers.redis.RedisBroker`).

Ready messages of a queue = sum of LLEN over its priority lists (`keys.priority_lists`), as
Flower's utils/broker.py does. Messages a worker has prefetched (including ETA/countdown tasks it
holds) are in kombu's ``unacked`` hash, not in the lists, so they are reported apart.

`depths` and `details` run as one Lua script (EVALSHA) over every list: LLEN and LINDEX -1 are O(1),
so their cost grows with the number of queues, never with the messages waiting. One script call
instead of a pipeline of 4-8 commands per queue saves the client ~12 us of redis-py work per command
(bench/bench_scale.py: 50 queues, 1.9 ms -> 0.5 ms CPU). A server that refuses scripts (ACL without
EVALSHA) gets the same reads as one pipeline.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime

import redis

from app.store import keys
from app.store.headers import SENT_AT_HEADER


@dataclass(frozen=True)
class QueueDepths:
    """`ready`: queue name -> waiting messages; `unacked`: reserved by workers, all queues (None when
    the broker cannot tell: RabbitMQ without its management API)."""

    ready: dict[str, int]
    unacked: int | None

    @property
    def total_ready(self) -> int:
        return sum(self.ready.values())


#: KEYS: the priority lists of every queue (ARGV[1] per queue, in order), then the unacked hash;
#: ARGV[2] "1" adds each list's oldest message (LINDEX -1; false when empty). Returns per queue its
#: ready count (then, with ARGV[2], one oldest message per list), and last the unacked count.
_READ_LUA = """
local per, with_oldest = tonumber(ARGV[1]), ARGV[2] == '1'
local out, n = {}, 0
for i = 1, #KEYS - 1, per do
  local ready = 0
  for j = i, i + per - 1 do ready = ready + redis.call('LLEN', KEYS[j]) end
  n = n + 1
  out[n] = ready
  if with_oldest then
    for j = i, i + per - 1 do
      n = n + 1
      out[n] = redis.call('LINDEX', KEYS[j], -1)
    end
  end
end
out[n + 1] = redis.call('HLEN', KEYS[#KEYS])
return out
"""


def _read(broker, queues, with_oldest: bool) -> list:
    """Per queue: ready count (then, `with_oldest`, the oldest message of each priority list or
    None), and last the unacked count: one EVALSHA, or one pipeline where scripts are refused."""
    lists = [name for q in queues for name in keys.priority_lists(q)]
    per = len(keys.PRIORITY_STEPS)
    try:  # EVALSHA; redis-py loads the script on NOSCRIPT
        return broker.register_script(_READ_LUA)(keys=[*lists, keys.UNACKED], args=[per, int(with_oldest)])
    except redis.ResponseError:  # scripts refused (NOPERM, unknown command); a WRONGTYPE re-raises below
        return _read_pipelined(broker, queues, with_oldest)


def _read_pipelined(broker, queues, with_oldest: bool) -> list:
    """`_read` as one pipeline of LLEN (and LINDEX) per list (for servers without scripting)."""
    per = len(keys.PRIORITY_STEPS)
    pipe = broker.pipeline(transaction=False)
    for q in queues:
        for name in keys.priority_lists(q):
            pipe.llen(name)
        if with_oldest:
            for name in keys.priority_lists(q):
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


def depths(broker, queues: tuple[str, ...] | list[str]) -> QueueDepths:
    """Ready counts for `queues` and the broker-wide unacked count, in one round trip (see the
    module docstring), independent of how many messages wait.

    Args:
        broker: redis.Redis connected to the broker database.
    Raises:
        redis.RedisError: the broker cannot be reached.
    """
    queues = list(queues)
    replies = _read(broker, queues, with_oldest=False)
    return QueueDepths(ready={q: int(n) for q, n in zip(queues, replies)}, unacked=int(replies[-1]))


@dataclass
class QueueDetail:
    """One queue: ready messages, reserved (unacked) and ETA-held among them, consumers and latency.

    `latency_s` is the age of the oldest waiting message (from the ``cc_sent_at`` header stamped at
    publish time by `app.telemetry.recorder` on Redis; the AMQP ``timestamp`` property through the
    RabbitMQ management API), None when the queue is empty or the age is unknown.
    `consumers` are the online workers consuming the queue (heartbeats); `broker_consumers` is the
    broker's own consumer count (RabbitMQ; None on Redis, which does not keep one).
    A field the broker cannot tell is None and `unknown` maps its name to the reason.
    """

    name: str
    ready: int = 0
    reserved: int | None = 0
    eta_held: int | None = 0
    consumers: list[str] | None = None
    latency_s: float | None = None
    broker_consumers: int | None = None
    unknown: dict[str, str] = field(default_factory=dict)

    @property
    def stuck(self) -> bool:
        """Messages waiting and nobody consuming the queue (neither an online worker nor, where the
        broker counts them, any consumer at all)."""
        return self.ready > 0 and not self.consumers and not self.broker_consumers


def parse_message(raw: str | bytes) -> dict:
    """kombu's Redis message envelope (JSON) → dict; {} when it is not JSON."""
    try:
        msg = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return msg if isinstance(msg, dict) else {}


def _eta_epoch(eta) -> float | None:
    if not eta:
        return None
    try:
        return datetime.fromisoformat(str(eta)).timestamp()
    except ValueError:
        return None


def details(broker, queue_names, consumers: dict[str, list[str]], now: float | None = None,
            max_unacked_scan: int = 10_000) -> list[QueueDetail]:
    """Per-queue detail in one round trip (lengths + oldest message per list, one script), plus one
    HVALS of the unacked hash when it holds entries.

    The unacked hash is walked only when it holds at most `max_unacked_scan` entries (prefetched and
    ETA tasks; normally a handful per worker); above that, reserved/ETA counts per queue are 0 and
    the broker-wide count from `depths` still holds.
    """
    now = time.time() if now is None else now
    queue_names = list(queue_names)
    replies = _read(broker, queue_names, with_oldest=True)
    per = 1 + len(keys.PRIORITY_STEPS)
    out = []
    for i, q in enumerate(queue_names):
        ready, *tails = replies[i * per:(i + 1) * per]
        oldest = [parse_message(m).get("headers", {}).get(SENT_AT_HEADER) for m in tails if m]
        stamps = [float(s) for s in oldest if s]
        out.append(QueueDetail(name=q, ready=int(ready), consumers=consumers.get(q, []),
                               latency_s=round(now - min(stamps), 3) if stamps else None))
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


def find_waiting(broker, queue: str, task_id: str, max_scan: int = 50_000, chunk: int = 1_000):
    """Where `task_id` waits in `queue`: ``(position from the head (0 = next), message)`` or None.

    Scans at most `max_scan` messages per priority list, oldest first.
    """
    position = 0
    for name in keys.priority_lists(queue):
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


def purge(broker, queue: str) -> int:
    """Delete every ready message of `queue` (all priority lists); returns how many were removed.

    Reserved (unacked) messages are left to the workers holding them.
    """
    lists = keys.priority_lists(queue)
    pipe = broker.pipeline(transaction=True)
    for name in lists:
        pipe.llen(name)
    for name in lists:
        pipe.delete(name)
    replies = pipe.execute()
    return sum(int(x) for x in replies[:len(lists)])


def monitored(client, configured: tuple[str, ...] | list[str], limit: int = 50) -> tuple[str, ...]:
    """Queue names the monitor measures: `configured` (MONITOR_QUEUES) first, then the queues seen
    in Celery events or active_queues replies (``cc:queues:seen``, newest first, at most `limit`).

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    seen = client.zrevrange(keys.QUEUES_SEEN, 0, limit - 1)
    return tuple(dict.fromkeys([*configured, *sorted(seen)]))
