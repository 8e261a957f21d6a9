"""Worker side of queue pause/resume: a consumer bootstep and two remote-control commands.

A paused queue is a field of ``cc:paused`` (`app.monitor.queue_control.pause`). A worker that starts
(or reconnects) while a queue is paused stops consuming it before its event loop fetches anything:
`PausedQueues.start` runs after the Tasks bootstep made the task consumer and before the loop
starts. `cc_pause_queue` / `cc_resume_queue` are broadcast by the console: pause cancels the
worker's consumer of that queue (as Celery's ``cancel_consumer``); resume adds it back only on
workers that were started to consume it (their ``-Q`` list), so resuming never makes a worker take
queues it was not meant to serve. A broadcast a worker missed (sent while it was starting or
disconnected) still applies within `PausedQueues.RECONCILE_S`: every worker re-reads ``cc:paused``
on that timer.
"""
from __future__ import annotations

import logging

from celery import bootsteps
from celery.worker.control import control_command, ok

from app.store import pauses
from app.store.clients import redis_from_url

log = logging.getLogger(__name__)


def _configured(consumer) -> set[str]:
    """The queues this worker was started to consume (captured once, before any pause applies)."""
    if getattr(consumer, "cc_configured_queues", None) is None:
        consumer.cc_configured_queues = {q.name for q in consumer.task_consumer.queues}
    return consumer.cc_configured_queues


def _taking(consumer) -> set[str]:
    """The queues the consumer takes from now (before and after the loop started consuming)."""
    return {q.name for q in consumer.task_consumer.queues} if consumer.task_consumer else set()


def _paused_by_us(consumer) -> set[str]:
    """Queues this worker stopped consuming because they were paused (resume adds back only these)."""
    if getattr(consumer, "cc_paused_queues", None) is None:
        consumer.cc_paused_queues = set()
    return consumer.cc_paused_queues


def _pause(consumer, queue: str, now: bool = False) -> None:
    _paused_by_us(consumer).add(queue)
    if now:
        consumer.cancel_task_queue(queue)
    else:
        consumer.call_soon(consumer.cancel_task_queue, queue)
    log.warning("queue %s is paused by an operator: not consuming it until resumed", queue)


def _resume(consumer, queue: str) -> None:
    _paused_by_us(consumer).discard(queue)
    consumer.call_soon(consumer.add_task_queue, queue)
    log.warning("queue %s was resumed: consuming it again", queue)


class PausedQueues(bootsteps.StartStopStep):
    """Consumer bootstep: do not consume queues an operator paused (see module docstring).

    Besides the console's broadcast, the worker re-reads ``cc:paused`` every `RECONCILE_S`, so a
    pause or resume broadcast it missed (sent while it was starting, or while its connection was
    down) still applies within that time.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)
    RECONCILE_S = 5.0

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        self.tref = None
        self.client = redis_from_url(c.app.conf.result_backend)

    def _paused(self) -> set[str] | None:
        try:
            return pauses.names(self.client)
        except Exception as exc:  # noqa: BLE001 - a worker must run even when Redis is slow
            log.warning("could not read paused queues (%s); keeping the current consumers", exc)
            return None

    def start(self, c):
        _configured(c)
        paused = self._paused()
        for queue in sorted((paused or set()) & _taking(c)):
            # the loop has not called basic_consume yet: dropping the queue from the consumer's list
            # (and from app.amqp's selection) means it is never consumed
            _pause(c, queue, now=True)
        self.tref = c.timer.call_repeatedly(self.RECONCILE_S, self.reconcile, (c,), priority=10)

    def reconcile(self, c) -> None:
        """Apply pauses and resumes this worker has not applied yet."""
        paused = self._paused()
        if paused is None or not c.task_consumer:
            return
        taking = _taking(c)
        for queue in sorted(paused & taking):
            _pause(c, queue)
        for queue in sorted(_paused_by_us(c) - paused):
            if queue in _configured(c) and queue not in taking:
                _resume(c, queue)

    def stop(self, c):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


@control_command(args=[("queue", str)], signature="<queue>")
def cc_pause_queue(state, queue, **_):
    """Stop consuming `queue` (it is paused); a no-op on workers that do not consume it."""
    consumer = state.consumer
    _configured(consumer)
    if queue in _taking(consumer):
        _pause(consumer, queue)
        return ok(f"paused {queue}")
    if queue in _paused_by_us(consumer):  # the reconcile timer was first
        return ok(f"paused {queue}")
    return ok(f"not consuming {queue}")


@control_command(args=[("queue", str)], signature="<queue>")
def cc_resume_queue(state, queue, **_):
    """Consume `queue` again if this worker was started to consume it."""
    consumer = state.consumer
    if queue in _configured(consumer):
        _resume(consumer, queue)
        return ok(f"resumed {queue}")
    return ok(f"not configured for {queue}")
