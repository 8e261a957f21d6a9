"""Queue latency for messages from any publisher: the age of the oldest waiting message when the
broker alone cannot tell it.

The brokers (`app.monitor.brokers`) give an age only for messages stamped at publish: the console's
``cc_sent_at`` header on Redis, the AMQP ``timestamp`` property through RabbitMQ's management API. A
plain Celery client stamps neither. For those queues `fill` takes, in order:

1. the history's ``sent_at`` of the message at the head of the queue (a task-sent event of its
   publisher; Redis, where the head's task id is read in place): exact;
2. else when the console first saw that message at the head (`app.store.queue_heads`; on RabbitMQ,
   where the head's id cannot be read without taking it, since the ready count last fell): a lower
   bound, marked ``latency_lower_bound``. Each reader (page, /metrics, alert evaluation, beat's
   queue-size task) updates the same record, so the bound grows with whoever looks most often.

A non-empty queue therefore always gets an age (0 the first time it is seen, growing after).
"""
from __future__ import annotations

import time

from app.monitor.queues import QueueDetail
from app.store import history, queue_heads


def fill(client, app_name: str, details: list[QueueDetail], now: float | None = None) -> list[QueueDetail]:
    """Give every non-empty queue of `details` without an age one (module docstring); changed in
    place and returned. Two round trips to the history Redis at most.

    Raises:
        StoreError: the history Redis cannot be reached (`app.store.clients`).
    """
    now = time.time() if now is None else now
    todo = [d for d in details if d.ready > 0 and d.latency_s is None]
    empty = {d.name: (None, 0) for d in details if d.ready <= 0}
    with_id = [d for d in todo if d.head_id]
    sent = history.task_fields(client, [d.head_id for d in with_id], ("sent_at",)) if with_id else []
    for d, (sent_at,) in zip(with_id, sent):
        if sent_at:
            d.latency_s = round(max(0.0, now - float(sent_at)), 3)
            d.unknown.pop("latency_s", None)
    rest = [d for d in todo if d.latency_s is None]
    since = queue_heads.observe(client, app_name, {**empty, **{d.name: (d.head_id, d.ready) for d in rest}}, now)
    for d in rest:
        if d.name in since:
            d.latency_s = round(max(0.0, now - since[d.name]), 3)
            d.latency_lower_bound = True
            d.unknown.pop("latency_s", None)
    return details
