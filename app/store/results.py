"""Celery's result records in a Redis result backend: read by the event ingester to settle tasks
that finished while it was down, deleted by the clean-ups.

Celery writes ``celery-task-meta-<task id>`` (a string: the JSON meta ``{status, result, traceback,
date_done, name, worker, ...}``, expiring after the app's ``result_expires``); the console reads
and deletes it here, never writes it. The backend may be the monitored app's, not the console's
own Redis.
"""
from __future__ import annotations

from app.store import keys


def metas(backend, task_ids: list[str]) -> list[str | None]:
    """The raw JSON meta of each of `task_ids`, in order (None when there is none): one MGET.

    Raises:
        StoreError: the backend cannot be reached (`app.store.clients`).
    """
    if not task_ids:
        return []
    return backend.mget([keys.result_meta(t) for t in task_ids])


def delete(backend, result_keys: list[str]) -> int:
    """Delete the result records named `result_keys` (as the app's result backend names them:
    ``backend.get_key_for_task(id)``); returns how many existed. One pipelined round trip (none for
    no keys).

    Raises:
        StoreError: the backend cannot be reached (`app.store.clients`).
    """
    if not result_keys:
        return 0
    pipe = backend.pipeline(transaction=False)
    for key in result_keys:
        pipe.delete(key)
    return sum(int(x) for x in pipe.execute())
