"""Which task beat last sent for each schedule entry, and since when a send has waited to start.

``cc:sched:last`` (entry -> task id), ``cc:sched:prev`` (entry -> the task id sent before that)
and ``cc:sched:pending`` (entry -> epoch s of the oldest send not started yet) are written by the
recorder: `note_sent` in the publisher (beat) for every message
carrying the ``cc_schedule`` header, `note_started` in the worker when a run of the entry starts.
`app.monitor.schedule_health` reads them with `read`. Errors are logged and swallowed on the write
side (history must never fail a task).
"""
from __future__ import annotations

import logging

from app.store import keys

log = logging.getLogger(__name__)


def note_sent(client, entry: str, task_id: str, now: float) -> None:
    """Beat sent `task_id` for `entry` at `now` (two round trips; beat sends rarely)."""
    try:
        previous = client.hget(keys.SCHEDULE_LAST_TASK, entry)
        pipe = client.pipeline(transaction=False)
        if previous and previous != task_id:
            pipe.hset(keys.SCHEDULE_PREVIOUS_TASK, entry, previous)
        pipe.hset(keys.SCHEDULE_LAST_TASK, entry, task_id)
        pipe.hsetnx(keys.SCHEDULE_PENDING, entry, repr(now))
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - history must never fail a task
        log.warning("schedule run note for %s failed: %s", entry, exc)


def note_started(client, entry: str) -> None:
    """A run of `entry` started: nothing of it waits any more."""
    try:
        client.hdel(keys.SCHEDULE_PENDING, entry)
    except Exception as exc:  # noqa: BLE001 - history must never fail a task
        log.warning("schedule start note for %s failed: %s", entry, exc)


def read(client) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """(entry -> last task id, entry -> epoch s the oldest unstarted send was made, entry -> the
    task id sent before the last), one pipeline."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.SCHEDULE_LAST_TASK)
    pipe.hgetall(keys.SCHEDULE_PENDING)
    pipe.hgetall(keys.SCHEDULE_PREVIOUS_TASK)
    last, pending, previous = pipe.execute()
    out = {}
    for entry, value in pending.items():
        try:
            out[entry] = float(value)
        except ValueError:
            continue
    return last, out, previous
