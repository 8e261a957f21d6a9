"""One call for the monitor's header: queue depths, workers and task counts."""
from __future__ import annotations

from dataclasses import dataclass

from app.monitor import brokers, workers
from app.store import history
from app.monitor.queues import QueueDepths
from app.monitor.workers import WorkerInfo


@dataclass
class Snapshot:
    depths: QueueDepths
    workers: list[WorkerInfo]
    counts: dict[str, int]

    @property
    def online(self) -> list[WorkerInfo]:
        return [w for w in self.workers if w.online]


def take(client, broker, queue_names, offline_after_s: float = 10.0) -> Snapshot:
    """Queue depths (broker: a `brokers.Broker` or a Redis client), workers and per-state counts
    (history): one script call to the Redis broker (`brokers.redis_lists.depths`) or, on RabbitMQ, one live
    management API request (else one passive queue.declare per queue), plus four round trips to the
    store. No read grows with the number of messages waiting (bench/bench_scale.py).

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
        BrokerUnavailable: the broker cannot be reached.
    """
    return Snapshot(depths=brokers.coerce(broker).depths(queue_names),
                    workers=workers.list_workers(client, offline_after_s),
                    counts=history.count_by_state(client))
