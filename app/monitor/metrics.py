"""Prometheus metrics endpoint: ``python -m app.monitor.metrics`` serves /metrics on METRICS_PORT.

Metrics are read from Redis and each monitored app's broker on each scrape (a custom collector;
prometheus_client docs "Custom Collectors"), so they reflect every worker and survive restarts.
Every series has an ``app`` label: the monitored app's name (`app.monitor.apps`; "console" for the
console's own), or "all" for figures the history keeps for every app together:

- celery_console_tasks{app="all",state}                    gauge, tasks in the history index per state
- celery_console_task_runtime_seconds{app="all",task}      histogram, from the runtime buckets in Redis
- celery_console_queue_ready{app,queue}                    gauge, waiting messages (all priority lists)
- celery_console_queue_reserved{app,queue}                 gauge, delivered to a worker, not yet acked
- celery_console_queue_latency_seconds{app,queue}          gauge, age of the oldest waiting message
  (`app.monitor.latency`: from its publish time, else a lower bound from when it was first seen at
  the head of the queue)
- celery_console_queue_latency_lower_bound{app,queue}      gauge, 1 when that age is a lower bound
- celery_console_queue_consumers{app,queue}                gauge, online workers consuming the queue
- celery_console_workers_online{app}                       gauge
- celery_console_broker_up{app}                            1 when that app's broker answered
- celery_console_alerts_last_evaluation_timestamp_seconds{app="all"}  epoch s of the last finished
  alert evaluation (absent when none ever ran)
- celery_console_up{app="all"}                             1 when Redis answered the scrape

A queue figure a broker cannot tell (RabbitMQ without its management API: reserved) is left out
rather than reported as 0. A monitored app whose broker does not answer gets broker_up 0 and no
queue series; the others are unaffected.
"""
from __future__ import annotations

import logging
import time

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from app.monitor import app_queues, brokers, latency, workers
from app.store import alerts as alert_store
from app.store import history
from app.store.histogram import RUNTIME_BUCKETS_S

log = logging.getLogger(__name__)
ALL = "all"


class ConsoleCollector:
    """Collect the metrics above from `client` (history) and each app's broker per scrape.

    Args:
        client: redis.Redis on the history database.
        broker: the console's own broker (`brokers.Broker` or a Redis client on it).
        queue_names: the console's queues to measure.
        apps: the monitored apps (`app.monitor.apps.MonitoredApps`); None measures the console's alone.
    """

    def __init__(self, client, broker, queue_names, offline_after_s: float = 10.0, apps=None):
        self.client, self.broker, self.queue_names = client, brokers.coerce(broker), tuple(queue_names)
        self.offline_after_s = offline_after_s
        self.apps = apps
        self._brokers: dict[str, brokers.Broker] = {}

    def collect(self):
        up = GaugeMetricFamily("celery_console_up", "1 when Redis answered this scrape", labels=["app"])
        try:
            families = list(self._collect())
        except Exception:  # noqa: BLE001 - report down instead of failing the scrape
            up.add_metric([ALL], 0)
            yield up
            return
        up.add_metric([ALL], 1)
        yield up
        yield from families

    def _broker_of(self, mon):
        if mon.name not in self._brokers:
            self._brokers[mon.name] = mon.broker()
        return self._brokers[mon.name]

    def _collect(self):
        now = time.time()
        states = GaugeMetricFamily("celery_console_tasks", "Tasks in the history per state", labels=["app", "state"])
        for state, n in history.count_by_state(self.client).items():
            states.add_metric([ALL, state], n)
        yield states
        names = history.task_names(self.client)
        hist = HistogramMetricFamily("celery_console_task_runtime_seconds", "Task runtime", labels=["app", "task"])
        for n, raw in history.runtime_histograms(self.client, names).items():
            if not raw:
                continue
            total_sum = float(raw.pop("sum", 0) or 0)
            cumulative, running = [], 0
            for bound in RUNTIME_BUCKETS_S:
                running += int(raw.get(str(bound), 0))
                cumulative.append(("+Inf" if bound == float("inf") else str(bound), running))
            hist.add_metric([ALL, n], cumulative, sum_value=total_sum)
        yield hist
        evaluated = alert_store.evaluated_at(self.client)
        if evaluated is not None:
            ev = GaugeMetricFamily("celery_console_alerts_last_evaluation_timestamp_seconds",
                                   "When the alert rules were last evaluated (epoch s)", labels=["app"])
            ev.add_metric([ALL], evaluated)
            yield ev
        ws = workers.list_workers(self.client, self.offline_after_s, now=now)
        online = GaugeMetricFamily("celery_console_workers_online", "Workers with a recent heartbeat", labels=["app"])
        broker_up = GaugeMetricFamily("celery_console_broker_up", "1 when the app's broker answered", labels=["app"])
        fams = {
            "ready": GaugeMetricFamily("celery_console_queue_ready", "Waiting messages", labels=["app", "queue"]),
            "reserved": GaugeMetricFamily("celery_console_queue_reserved", "Reserved, unacked", labels=["app", "queue"]),
            "latency": GaugeMetricFamily("celery_console_queue_latency_seconds", "Age of the oldest waiting message",
                                         labels=["app", "queue"]),
            "bound": GaugeMetricFamily("celery_console_queue_latency_lower_bound",
                                       "1 when the latency is a lower bound (first seen at the head)",
                                       labels=["app", "queue"]),
            "consumers": GaugeMetricFamily("celery_console_queue_consumers", "Online consumers", labels=["app", "queue"]),
        }
        apps = [m for m in (self.apps or ()) if m.name != "console"]
        online.add_metric(["console"], sum(1 for w in ws if w.online and w.app == "console"))
        names = self.queue_names
        if self.apps is not None:  # the console's declared queues, then those seen in its events
            names = app_queues.names(self.client, self.apps.get("console"), self.queue_names)
        try:
            own = self.broker.details(names, workers.consumers_by_queue(ws, "console"), now=now)
            measured = [("console", latency.fill(self.client, "console", own, now))]
            broker_up.add_metric(["console"], 1)
        except OSError as exc:
            log.warning("console broker not read: %s", exc)
            measured = []
            broker_up.add_metric(["console"], 0)
        for mon in apps:
            online.add_metric([mon.name], sum(1 for w in ws if w.online and w.app == mon.name))
            try:
                found = app_queues.details(self.client, mon, ws, broker=self._broker_of(mon), now=now)
                broker_up.add_metric([mon.name], 1)
                measured.append((mon.name, found))
            except OSError as exc:
                log.warning("broker of app %s not read: %s", mon.name, exc)
                broker_up.add_metric([mon.name], 0)
        for app_name, detail in measured:
            for d in detail:
                labels = [app_name, d.name]
                fams["ready"].add_metric(labels, d.ready)
                if d.reserved is not None:
                    fams["reserved"].add_metric(labels, d.reserved)
                if "latency_s" not in d.unknown:
                    fams["latency"].add_metric(labels, d.latency_s or 0.0)
                    fams["bound"].add_metric(labels, 1 if d.latency_lower_bound else 0)
                fams["consumers"].add_metric(labels, len(d.consumers or []))
        yield online
        yield broker_up
        yield from fams.values()


def main() -> None:
    from prometheus_client import REGISTRY, start_http_server

    from app.monitor.apps import MonitoredApps
    from app.store.clients import redis_from_url
    from app import runtime
    from config.celery_settings import QUEUES
    from config.settings import get_settings

    s = get_settings()
    apps = MonitoredApps.from_settings(s, runtime.get().celery, QUEUES)
    REGISTRY.register(ConsoleCollector(redis_from_url(s.result_backend), brokers.for_settings(s), QUEUES,
                                       s.WORKER_OFFLINE_AFTER_S, apps=apps))
    start_http_server(s.METRICS_PORT, addr="127.0.0.1" if s.METRICS_LOCAL_ONLY else "0.0.0.0")
    print(f"Prometheus metrics on http://localhost:{s.METRICS_PORT}/metrics", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
