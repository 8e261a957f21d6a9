"""The RabbitMQ broker (AMQP 0-9-1): queue counts from the management HTTP API, else AMQP itself.

Sources, per RabbitMQ's docs:

- With RABBITMQ_MANAGEMENT_URL, one keep-alive HTTP request for every queue of the vhost:

  - counts (`depths`: the monitor's snapshot): ``GET /api/queues/<vhost>?disable_stats=true&
    enable_queue_totals=true&columns=name,messages_ready,messages_unacknowledged``. This skips the
    management stats database and asks each queue for its totals, so the figures are live (seen
    within 20 ms of a publish, against up to two stats intervals on the stats path) and the request
    costs RabbitMQ about half as much (bench/bench_scale.py). A classic queue keeps its length, so
    the cost depends on the number of queues, not on the messages waiting. These parameters exist
    since RabbitMQ 3.8; a server that ignores them (no ``messages_ready`` in its rows) is read
    through the stats path below instead.
  - detail (`details`: the queue table): ``GET /api/queues/<vhost>?columns=...`` (stats path)
    gives ``messages_ready``, ``messages_unacknowledged``, ``consumers`` and
    ``head_message_timestamp`` — the ``timestamp`` property of the oldest ready message, which the
    console sets on every task it publishes (`app.runtime.signals.stamp_timestamp`). The
    management API refreshes these every ``collect_statistics_interval`` (5 s by default), so they
    trail by up to that long.
- Without it: a passive ``queue.declare`` per queue (one round trip each, live) gives the ready
  message count and the consumer count only; unacked counts and message ages are then unknown, and
  `QueueDetail.unknown` says why.

What AMQP cannot do at all: read a message without taking it off the queue, so "why stuck" cannot
give a waiting task's position or find a worker's reservation here (``locates_messages`` False);
ETA/countdown tasks sit as unacked deliveries on the worker and are counted in ``reserved``, not
apart. Purge is ``queue.purge`` (ready messages only; unacked ones stay with their consumers).
"""
from __future__ import annotations

from types import MappingProxyType
import threading
import time
from urllib.parse import quote, urlsplit, urlunsplit

import amqp
import httpx
import kombu

from app.errors import BrokerUnavailable
from app.monitor.queues import QueueDepths, QueueDetail

MANAGEMENT_COLUMNS = "name,messages_ready,messages_unacknowledged,consumers,head_message_timestamp"
#: Query of the counts-only request (RabbitMQ HTTP API reference, GET /api/queues: "disable_stats",
#: "enable_queue_totals"; "columns" keeps the reply to these fields).
TOTALS_PARAMS = MappingProxyType({"disable_stats": "true", "enable_queue_totals": "true",
                 "columns": "name,messages_ready,messages_unacknowledged"})
NO_MANAGEMENT = ("needs RABBITMQ_MANAGEMENT_URL: AMQP's queue.declare reports only ready messages and "
                 "consumers")
NO_ETA_COUNT = ("RabbitMQ delivers ETA/countdown tasks to a worker at once; they are counted in "
                "reserved (unacked), not apart")
NO_TIMESTAMP = ("the oldest ready message has no timestamp property (published by something other than "
                "this console)")


class ManagementApi:
    """The RabbitMQ management HTTP API for one vhost (httpx, `timeout_s` per request).

    Credentials: the URL's user info, else the broker URL's user and password.
    """

    def __init__(self, url: str, vhost: str, user: str | None, password: str | None,
                 timeout_s: float = 2.0):
        parts = urlsplit(url)
        auth = (parts.username, parts.password or "") if parts.username else (user or "guest", password or "guest")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        path = parts.path.rstrip("/")
        if path.endswith("/api"):
            path = path[:-4]
        self.base_url = urlunsplit((parts.scheme, netloc, path, "", ""))
        self.vhost = vhost
        self.path = f"/api/queues/{quote(vhost, safe='')}"
        self.client = httpx.Client(base_url=self.base_url, auth=auth, timeout=timeout_s)  # keep-alive
        self._totals_supported = True  # until a reply shows the parameters are ignored

    def queues(self) -> dict[str, dict]:
        """Queue name -> {messages_ready, messages_unacknowledged, consumers, head_message_timestamp}
        from the stats database (trailing by up to collect_statistics_interval).

        Raises:
            BrokerUnavailable: no answer, or an HTTP error (401: wrong credentials).
        """
        return self._get({"columns": MANAGEMENT_COLUMNS})

    def totals(self) -> dict[str, dict]:
        """Queue name -> {messages_ready, messages_unacknowledged}, live (asked of each queue); the
        stats path (`queues`) when the server ignores ``enable_queue_totals``.

        Raises:
            BrokerUnavailable: no answer, or an HTTP error (401: wrong credentials).
        """
        if self._totals_supported:
            rows = self._get(dict(TOTALS_PARAMS))
            if not rows or any("messages_ready" in row for row in rows.values()):
                return rows
            self._totals_supported = False
        return self.queues()

    def _get(self, params: dict) -> dict[str, dict]:
        try:
            r = self.client.get(self.path, params=params)
            r.raise_for_status()
            rows = r.json()
        except httpx.HTTPStatusError as exc:
            raise BrokerUnavailable(f"RabbitMQ management API at {self.base_url} answered HTTP "
                                    f"{exc.response.status_code}" + (" (check the credentials)"
                                                                     if exc.response.status_code == 401 else "")) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise BrokerUnavailable(f"RabbitMQ management API at {self.base_url} is unreachable: {exc}") from exc
        return {row["name"]: row for row in rows if isinstance(row, dict) and "name" in row}

    def close(self) -> None:
        self.client.close()


class AmqpBroker:
    """`Broker` on RabbitMQ at `url` (amqp://user:pass@host:5672/vhost), thread-safe (one lock)."""

    kind = "amqp"
    locates_messages = False

    def __init__(self, url: str, management_url: str | None = None, timeout_s: float = 2.0):
        from app.monitor.brokers import safe_url

        self.url, self.timeout_s = url, timeout_s
        self.display_url = safe_url(url)
        probe = kombu.Connection(url)
        self.vhost = probe.virtual_host or "/"
        self.management = (ManagementApi(management_url, self.vhost, probe.userid, probe.password, timeout_s)
                           if management_url else None)
        self._lock = threading.Lock()
        self._conn: kombu.Connection | None = None

    # -- AMQP -----------------------------------------------------------------------------------
    def _connection(self) -> kombu.Connection:
        if self._conn is None or not self._conn.connected:
            conn = kombu.Connection(self.url, connect_timeout=self.timeout_s)
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=self.timeout_s)
            self._conn = conn
        return self._conn

    def _reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.release()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
        self._conn = None

    def _with_channel(self, work):
        """Run ``work(connection)`` holding the lock; one reconnect on a dropped connection."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    return work(self._connection())
                except (OSError, amqp.exceptions.ConnectionError, amqp.exceptions.RecoverableConnectionError,
                        kombu.exceptions.OperationalError) as exc:
                    self._reset()
                    if attempt == 2:
                        raise BrokerUnavailable(f"RabbitMQ at {self.display_url} is unreachable: {exc}") from exc
        raise AssertionError("unreachable")

    def passive_counts(self, queue_names) -> dict[str, tuple[int, int]]:
        """Queue -> (ready messages, consumers) by passive queue.declare; (0, 0) for a queue that
        does not exist (yet).

        Raises:
            BrokerUnavailable: RabbitMQ cannot be reached.
        """
        def work(conn):
            out = {}
            channel = conn.channel()
            try:
                for q in queue_names:
                    try:
                        ok = channel.queue_declare(queue=q, passive=True)
                        out[q] = (int(ok.message_count), int(ok.consumer_count))
                    except amqp.exceptions.NotFound:
                        out[q] = (0, 0)
                        channel = conn.channel()  # the server closes a channel on NOT_FOUND
            finally:
                _close_quietly(channel)
            return out
        return self._with_channel(work)

    def purge(self, queue: str) -> int:
        """Delete the ready messages of `queue` (queue.purge); returns how many. 0 when it does not exist."""
        def work(conn):
            channel = conn.channel()
            try:
                return int(channel.queue_purge(queue=queue) or 0)
            except amqp.exceptions.NotFound:
                return 0
            finally:
                _close_quietly(channel)
        return self._with_channel(work)

    # -- Broker interface -----------------------------------------------------------------------
    def _stats(self, queue_names, totals: bool = False) -> tuple[dict[str, dict], str | None]:
        """Per-queue stats (management rows: live totals, or the stats path's detail; else passive
        counts shaped alike) and, when the management API was not used, why."""
        if self.management is not None:
            try:
                rows = self.management.totals() if totals else self.management.queues()
                return {q: rows.get(q, {}) for q in queue_names}, None
            except BrokerUnavailable as exc:
                reason = f"management API failed ({exc}); counts from AMQP"
        else:
            reason = NO_MANAGEMENT
        counts = self.passive_counts(queue_names)
        return {q: {"messages_ready": r, "consumers": c, "passive": True} for q, (r, c) in counts.items()}, reason

    def depths(self, queue_names, live: bool = False) -> QueueDepths:
        """Ready per queue and the unacked total: one live management request (`ManagementApi.totals`),
        else a passive queue.declare per queue (live too; unacked is then None). `live` is accepted
        for the interface: both paths are live.

        Raises:
            BrokerUnavailable: RabbitMQ cannot be reached (the management API failing alone falls
            back to AMQP).
        """
        stats, reason = self._stats(list(queue_names), totals=True)
        ready = {q: int(s.get("messages_ready") or 0) for q, s in stats.items()}
        unacked = None if reason else sum(int(s.get("messages_unacknowledged") or 0) for s in stats.values())
        return QueueDepths(ready=ready, unacked=unacked)

    def details(self, queue_names, consumers, now=None) -> list[QueueDetail]:
        now = time.time() if now is None else now
        stats, reason = self._stats(list(queue_names))
        out = []
        for q, s in stats.items():
            ready = int(s.get("messages_ready") or 0)
            d = QueueDetail(name=q, ready=ready, reserved=None, eta_held=None, consumers=consumers.get(q, []),
                            broker_consumers=int(s.get("consumers") or 0))
            d.unknown["eta_held"] = NO_ETA_COUNT
            if reason:
                d.unknown["reserved"] = reason
                if ready:
                    d.unknown["latency_s"] = reason
            else:
                d.reserved = int(s.get("messages_unacknowledged") or 0)
                head = s.get("head_message_timestamp")
                if ready and isinstance(head, (int, float)):
                    d.latency_s = round(max(0.0, now - float(head)), 3)
                elif ready:
                    d.unknown["latency_s"] = NO_TIMESTAMP
            out.append(d)
        return out

    def find_waiting(self, queue: str, task_id: str):
        """Always None: AMQP cannot read a queued message in place (see the module docstring)."""
        return None

    def find_reserved(self, task_id: str):
        """Always None: unacked deliveries are visible to their consumer only."""
        return None

    def ping(self) -> None:
        self._with_channel(lambda conn: None)

    def close(self) -> None:
        with self._lock:
            self._reset()
        if self.management is not None:
            self.management.close()


def _close_quietly(channel) -> None:
    try:
        channel.close()
    except Exception:  # noqa: BLE001 - closing a channel the server already closed
        pass
