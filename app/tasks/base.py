"""The base class every console task uses: progress reporting and input errors that never retry.

A task is a few lines (STYLE.md): decode arguments, call one service function, turn transient
errors into a retry. `ConsoleTask.report_progress` is the one way tasks report progress: it sets
Celery's PROGRESS state (readable with AsyncResult.info) and records it in the task history.
"""
from __future__ import annotations

from typing import Any

from celery import Task

from app.errors import InvalidInput
from app.telemetry import recorder

PROGRESS = "PROGRESS"


class ConsoleTask(Task):
    """Celery Task with `report_progress`; `InvalidInput` is never retried (see `retry_on`)."""

    abstract = True
    #: Errors that mean "the input is bad": fail at once with the message, whatever autoretry says.
    dont_autoretry_for = (InvalidInput,)

    def report_progress(self, current: int, total: int, message: str = "", **extra: Any) -> None:
        """Publish progress `current`/`total` (items, pages, recipients...) with a short message.

        Meta shape: ``{'current', 'total', 'percent' (0-100 int), 'message', **extra}``.
        """
        percent = int(100 * current / total) if total else 0
        meta = {"current": current, "total": total, "percent": percent, "message": message, **extra}
        if self.request.id and not self.request.called_directly:
            self.update_state(state=PROGRESS, meta=meta)
            recorder.record_progress(self.request.id, meta)
