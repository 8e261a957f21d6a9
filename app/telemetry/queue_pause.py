"""Worker side of queue pause/resume: a consumer bootstep and two remote-control commands.

A paused queue is a field of ``cc:paused`` (`app.monitor.queue_control.pause`). A worker that starts
(or reconnects) while a queue is paused stops consuming it before its event loop fetches anything:
`PausedQueues.start` runs after the Tasks bootstep made the task consumer and before the loop
starts. `cc_pause_queue` / `cc_resume_queue` are broadcast by the console: pause cancels the
worker's consumer of that queue (as Celery's ``cancel_consumer``); resume adds it back only on
workers that were started to consume it (their ``-Q`` list), so resuming never makes a worker take
queues it was not meant to serve.
"""
from __future__ import annotations

import logging

from celery import bootsteps
from celery.worker.control import control_command, ok

from app.store import keys
from app.store.clients import redis_from_url

log = logging.getLogger(__name__)


def _configured(consumer) -> set[str]:
    """The queues this worker was started to consume (captured once, before any pause applies)."""
    if getattr(consumer, "cc_configured_queues", None) is None:
        consumer.cc_configured_queues = {q.name for q in consumer.task_consumer.queues}
    return consumer.cc_configured_queues


class PausedQueues(bootsteps.StartStopStep):
    """Consumer bootstep: do not consume queues an operator paused (see module docstring)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c):
        configured = _configured(c)
        try:
            with redis_from_url(c.app.conf.result_backend) as client:
                paused = set(client.hkeys(keys.PAUSED_QUEUES))
        except Exception as exc:  # noqa: BLE001 - a worker must start even when Redis is slow
            log.warning("could not read paused queues (%s); consuming all configured queues", exc)
            return
        for queue in sorted(paused & configured):
            if c.task_consumer.consuming_from(queue):
                c.cancel_task_queue(queue)
                log.warning("queue %s is paused by an operator: not consuming it until resumed", queue)


@control_command(args=[("queue", str)], signature="<queue>")
def cc_pause_queue(state, queue, **_):
    """Stop consuming `queue` (it is paused); a no-op on workers that do not consume it."""
    consumer = state.consumer
    _configured(consumer)
    if consumer.task_consumer and consumer.task_consumer.consuming_from(queue):
        consumer.call_soon(consumer.cancel_task_queue, queue)
        return ok(f"paused {queue}")
    return ok(f"not consuming {queue}")


@control_command(args=[("queue", str)], signature="<queue>")
def cc_resume_queue(state, queue, **_):
    """Consume `queue` again if this worker was started to consume it."""
    consumer = state.consumer
    if queue in _configured(consumer):
        consumer.call_soon(consumer.add_task_queue, queue)
        return ok(f"resumed {queue}")
    return ok(f"not configured for {queue}")
