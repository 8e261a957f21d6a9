"""Workflow tasks on default_queue: the adapter between steps, and a saved workflow run by beat.

`feed` sits before a step whose arguments come from the previous step's result: it picks the values
(`app.workflows.canvas.fed_signature`), sends the step under the task id chosen when the workflow was
built, and hands the step the rest of the chain. A redelivered adapter sends the same id again, so
a step that keeps a per-task-id record (the e-mail tasks' sent log) does not repeat its effect.
`run_saved` loads a saved workflow and sends it (what a workflow's schedule entry runs).
"""
from __future__ import annotations

from typing import Any

from celery import chain, shared_task, signature

from app import runtime
from app.tasks.base import ConsoleTask
from app.workflows import canvas, saved


@shared_task(base=ConsoleTask, bind=True)
def feed(self, previous: Any, task: str, args: list, kwargs: dict, feed: dict, step_id: str) -> dict:
    """Send `task` under id `step_id` with `kwargs` plus the values `feed` ({param: dotted path})
    picks from `previous` (the previous step's result; a list of them after a chord header), and
    hand it the rest of this task's chain, so the chain goes on after the step. The step is sent at
    this adapter's own priority (the console's normal one when the message carried none).

    Returns ``{'task', 'step_id'}``. Raises InvalidInput (never retried) when a path is not in the
    result or `task` is not a workflow step.
    """
    sig = canvas.fed_signature(self.app, previous, task, args, kwargs, feed, step_id,
                               (self.request.delivery_info or {}).get("priority"))
    rest = self.request.chain
    if rest:
        # The remaining steps follow the step, not this adapter: Celery sends the next element of
        # the request's chain once a task returns, so that list is emptied in place (the request
        # seen here is a copy of the worker's, sharing the list; Task.replace raises Ignore instead).
        tail = [signature(t, app=self.app) for t in reversed(rest)]
        rest.clear()
        sig = chain(sig, *tail, app=self.app)
    sig.apply_async()
    return {"task": task, "step_id": step_id}


@shared_task(base=ConsoleTask, bind=True)
def run_saved(self, name: str) -> dict:
    """Send the saved workflow `name`. Returns ``{'name', 'kind', 'step_ids', 'result_id'}``.
    Raises InvalidInput when it is not saved or no longer valid (a stored file gone)."""
    rt = runtime.get()
    return saved.run_saved(self.app, rt.redis, name, rt.settings.DATA_DIR).to_dict()
