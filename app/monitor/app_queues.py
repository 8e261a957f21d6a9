"""Each monitored app's queues as the monitor shows them: names, broker detail and latency.

One function per question, each taking a `app.monitor.apps.MonitoredApp`: which queues to measure
(its declared queues, plus those seen in its events), and their `QueueDetail`s read on its own
broker with its own workers as consumers and the latency of messages from any publisher
(`app.monitor.latency`).
"""
from __future__ import annotations

import time

from app.monitor import latency, queues, workers
from app.monitor.queues import QueueDetail


def names(client, mon, configured=None) -> tuple[str, ...]:
    """Queue names to measure for app `mon`: `configured` (default its declared queues), then the
    ones seen in its events or active_queues replies.

    Raises:
        StoreError: the history Redis cannot be reached.
    """
    return queues.monitored(client, tuple(mon.queues if configured is None else configured), app=mon.name)


def details(client, mon, worker_list: list[workers.WorkerInfo], queue_names=None, broker=None,
            now: float | None = None) -> list[QueueDetail]:
    """`QueueDetail`s of app `mon`'s queues (`queue_names`, default `names`) on its broker (`broker`,
    else a new one closed after the read), consumers among its online workers, latency filled in.

    Raises:
        BrokerUnavailable: the app's broker cannot be reached.
        StoreError: the history Redis cannot be reached.
    """
    now = time.time() if now is None else now
    queue_names = names(client, mon) if queue_names is None else tuple(queue_names)
    own = broker is None
    broker = mon.broker() if own else broker
    try:
        out = broker.details(queue_names, workers.consumers_by_queue(worker_list, mon.name), now=now)
    finally:
        if own:
            broker.close()
    return latency.fill(client, mon.name, out, now)


def record_history(client, apps, worker_list: list[workers.WorkerInfo], retention_s: float,
                   now: float | None = None) -> list[str]:
    """One depth/latency point per queue of every monitored app but the console's own (whose five
    queues beat's queue-size task records by their bare names), under ``<app>:<queue>`` in the
    queue-depth series and stuck flags (`app.store.queue_history`), so the charts and the stuck
    warning cover every app. An app whose broker does not answer is skipped (logged).

    Returns:
        The ``<app>:<queue>`` names flagged stuck now (messages waiting, nobody consuming).
    Raises:
        StoreError: the history Redis cannot be reached.
    """
    import logging

    from app.errors import BrokerUnavailable
    from app.store import queue_history

    now = time.time() if now is None else now
    stuck: list[str] = []
    for mon in apps:
        if mon.name == "console":
            continue
        try:
            found = details(client, mon, worker_list, now=now)
        except BrokerUnavailable as exc:
            logging.getLogger(__name__).warning("queues of app %s not recorded: %s", mon.name, exc)
            continue
        named = {f"{mon.name}:{d.name}": d for d in found}
        stuck += queue_history.record(client, {k: d.ready for k, d in named.items()},
                                      {k: d.consumers or [] for k, d in named.items()}, retention_s, now=now,
                                      latency_s={k: d.latency_s for k, d in named.items()})
    return stuck
