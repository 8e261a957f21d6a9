"""Capped redelivery: count how often each task attempt reached a worker, fail it after MAX_DELIVERIES.

With ``task_acks_late`` + ``task_reject_on_worker_lost`` Celery puts a task back in its queue when
the pool process running it dies (kill -9, the OOM killer, a crash in C code), and a task that kills
its process every time would be delivered forever. So each time a task starts, the worker bumps
``cc:deliveries:<task id>`` field <retries> (`count`); a retry (``self.retry``) is a new attempt and
starts at 1 again. A count above 1 means the earlier deliveries of this attempt were lost: each
one is written on the task's history timeline. Once the count passes MAX_DELIVERIES the task is
failed with `WorkerLostTooOften` ("worker lost N times (killed, out of memory, or crashed)") and
acked, without running it again.
"""
from __future__ import annotations

from app.errors import WorkerLostTooOften
from app.store.deliveries import count  # noqa: F401 - the counter lives in the store


def lost_message(lost: int) -> str:
    """The failure reason shown for a task whose worker was lost `lost` times."""
    return f"worker lost {lost} time{'s' if lost != 1 else ''} (killed, out of memory, or crashed)"


def check(delivery: int, max_deliveries: int) -> None:
    """Raise when delivery number `delivery` is past the cap.

    Raises:
        WorkerLostTooOften: ``delivery > max_deliveries``; the message says how many were lost.
    """
    if delivery > max_deliveries:
        raise WorkerLostTooOften(f"{lost_message(delivery - 1)}; not run again (MAX_DELIVERIES={max_deliveries}).")
