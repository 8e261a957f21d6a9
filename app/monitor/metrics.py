"""Prometheus metrics endpoint: ``python -m app.monitor.metrics`` serves /metrics on METRICS_PORT.

Metrics are read from Redis on each scrape (a custom collector; prometheus_client docs "Custom
Collectors"), so they reflect every worker and survive restarts:

- celery_console_tasks{state}                 gauge, tasks in the history index per current state
- celery_console_task_runtime_seconds{task}   histogram, from the runtime buckets kept in Redis
- celery_console_queue_ready{queue}           gauge, waiting messages (all priority lists)
- celery_console_queue_reserved{queue}        gauge, delivered to a worker, not yet acked
- celery_console_queue_latency_seconds{queue} gauge, age of the oldest waiting message
- celery_console_queue_consumers{queue}       gauge, online workers consuming the queue
- celery_console_workers_online               gauge
- celery_console_up                           1 when Redis and the broker answered the scrape

The broker is Redis or RabbitMQ (`app.monitor.brokers`); a queue figure the broker cannot tell
(RabbitMQ without its management API: reserved, latency) is left out rather than reported as 0.
"""
from __future__ import annotations

import time

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from app.monitor import brokers, workers
from app.store import history
from app.store.histogram import RUNTIME_BUCKETS_S


class ConsoleCollector:
    """Collect the metrics above from `client` (history) and `broker` (queues) per scrape."""

    def __init__(self, client, broker, queue_names, offline_after_s: float = 10.0):
        self.client, self.broker, self.queue_names = client, brokers.coerce(broker), tuple(queue_names)
        self.offline_after_s = offline_after_s

    def collect(self):
        up = GaugeMetricFamily("celery_console_up", "1 when Redis answered this scrape")
        try:
            families = list(self._collect())
        except Exception:  # noqa: BLE001 - report down instead of failing the scrape
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _collect(self):
        now = time.time()
        states = GaugeMetricFamily("celery_console_tasks", "Tasks in the history per state", labels=["state"])
        for state, n in history.count_by_state(self.client).items():
            states.add_metric([state], n)
        yield states
        names = history.task_names(self.client)
        hist = HistogramMetricFamily("celery_console_task_runtime_seconds", "Task runtime", labels=["task"])
        for n, raw in history.runtime_histograms(self.client, names).items():
            if not raw:
                continue
            total_sum = float(raw.pop("sum", 0) or 0)
            cumulative, running = [], 0
            for bound in RUNTIME_BUCKETS_S:
                running += int(raw.get(str(bound), 0))
                cumulative.append(("+Inf" if bound == float("inf") else str(bound), running))
            hist.add_metric([n], cumulative, sum_value=total_sum)
        yield hist
        ws = workers.list_workers(self.client, self.offline_after_s, now=now)
        online = GaugeMetricFamily("celery_console_workers_online", "Workers with a recent heartbeat")
        online.add_metric([], sum(1 for w in ws if w.online))
        yield online
        detail = self.broker.details(self.queue_names, workers.consumers_by_queue(ws), now=now)
        fams = {
            "ready": GaugeMetricFamily("celery_console_queue_ready", "Waiting messages", labels=["queue"]),
            "reserved": GaugeMetricFamily("celery_console_queue_reserved", "Reserved, unacked", labels=["queue"]),
            "latency": GaugeMetricFamily("celery_console_queue_latency_seconds", "Age of the oldest waiting message",
                                         labels=["queue"]),
            "consumers": GaugeMetricFamily("celery_console_queue_consumers", "Online consumers", labels=["queue"]),
        }
        for d in detail:
            fams["ready"].add_metric([d.name], d.ready)
            if d.reserved is not None:
                fams["reserved"].add_metric([d.name], d.reserved)
            if "latency_s" not in d.unknown:
                fams["latency"].add_metric([d.name], d.latency_s or 0.0)
            fams["consumers"].add_metric([d.name], len(d.consumers or []))
        yield from fams.values()


def main() -> None:
    from prometheus_client import REGISTRY, start_http_server

    from app.store.clients import redis_from_url
    from config.celery_settings import QUEUES
    from config.settings import get_settings

    s = get_settings()
    REGISTRY.register(ConsoleCollector(redis_from_url(s.result_backend), brokers.for_settings(s), QUEUES,
                                       s.WORKER_OFFLINE_AFTER_S))
    start_http_server(s.METRICS_PORT, addr="127.0.0.1" if s.METRICS_LOCAL_ONLY else "0.0.0.0")
    print(f"Prometheus metrics on http://localhost:{s.METRICS_PORT}/metrics", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
