"""The console's own Celery signal handlers besides the history recorder: the AMQP timestamp on
each published message and the default schedule's seeding when beat starts. `app.runtime`
connects them (`ConsoleSignals.connect`) once per process and disconnects them on close.
"""
from __future__ import annotations

import time

from celery.signals import beat_init, before_task_publish

from app import schedules
from config.celery_settings import ALERT_EVAL_ENTRY, default_schedule
from config.settings import Settings


def stamp_timestamp(properties: dict | None = None, **_) -> None:
    """`before_task_publish` receiver: set the AMQP ``timestamp`` property (epoch seconds) on each
    task message, so the RabbitMQ management API can report the oldest message's age
    (``head_message_timestamp``; app.monitor.brokers.amqp). Kept when the publisher set one."""
    if properties is not None:
        properties.setdefault("timestamp", int(time.time()))


class ConsoleSignals:
    """One runtime's connection of `stamp_timestamp` and of the default schedule's seeding at
    ``beat_init`` (`seed_schedule`). Each instance connects handlers of its own, so closing one
    runtime leaves another's connected."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def stamp(self, properties: dict | None = None, **_) -> None:
        """`before_task_publish` receiver: `stamp_timestamp`."""
        stamp_timestamp(properties)

    def seed_schedule(self, sender=None, **_) -> None:
        """`beat_init` receiver: install the default schedule's entries not installed before (once
        per name, `app.schedules.seed_defaults`) and keep the alert evaluation's interval equal to
        ALERT_EVAL_INTERVAL_S."""
        schedules.seed_defaults(sender.app, default_schedule(self.settings))
        schedules.keep_interval(sender.app, ALERT_EVAL_ENTRY, self.settings.ALERT_EVAL_INTERVAL_S)

    def connect(self) -> None:
        """Connect both handlers (connecting twice connects once)."""
        before_task_publish.connect(self.stamp, weak=False)
        beat_init.connect(self.seed_schedule, weak=False)

    def disconnect(self) -> None:
        before_task_publish.disconnect(self.stamp)
        beat_init.disconnect(self.seed_schedule)
