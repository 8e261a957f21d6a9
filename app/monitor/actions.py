"""Operator actions on tasks, queues and workers, each checked and audited through `app.access.act`.

Every function takes the monitored apps (`app.monitor.apps.MonitoredApps`, or a bare Celery app
standing for the console's own app alone), Redis clients and the acting `Identity` as parameters and
returns a short outcome dict; a role below the action's (`app.access.roles.ACTIONS`) raises
PermissionDenied (audited "denied") before anything happens. Each action goes to the app its task or
worker belongs to (the history's ``app`` field; `app_name` names it where there is no record, e.g.
a rate limit by task name) through that app's own Celery app on its own broker, and the audit entry
names the app. Failures of the remote side (no worker replied) are reported in the outcome and
audited, not raised. Broadcast commands are Celery's standard remote control (``app.control``; docs
"Workers Guide → Remote control"), which any Celery worker obeys; replies are awaited for at most
`REPLY_TIMEOUT_S`. The HTTP API (`app.api`) calls these same functions.
"""
from __future__ import annotations

import json
from typing import Any

from app import priority
from app.access import Identity, act
from app.errors import InvalidInput
from app.monitor import apps as monitored
from app.monitor import brokers, workers
from app.store import history, rate_limits, writer
from app.store import workers as worker_store
from app.store.headers import RETRY_OF_HEADER

REPLY_TIMEOUT_S = 1.0
RETRYABLE_STATES = frozenset({"FAILURE", "REVOKED", "SUCCESS", "RETRY"})


def _replies(replies) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for reply in replies or []:
        merged.update(reply)
    return merged


def _task_app(reg: monitored.MonitoredApps, task: dict | None, app_name: str | None) -> monitored.MonitoredApp:
    """The app of a history record, else `app_name`, else the console's."""
    if task and task.get("app"):
        return reg.get(task["app"])
    return reg.get(app_name)


def _worker_app(reg: monitored.MonitoredApps, client, hostname: str, app_name: str | None) -> monitored.MonitoredApp:
    """`app_name`'s app, else the app the worker's event record names, else the console's."""
    if app_name:
        return reg.get(app_name)
    recorded = worker_store.event_worker_fields(client, hostname, "app")[0]
    return reg.get(recorded or None)


#: The signals `revoke` may send to a running task's pool process: SIGTERM (a task can catch it and
#: clean up, or ignore it) and SIGKILL (cannot be caught: the process is gone, the pool starts another).
TERMINATE_SIGNALS = ("SIGTERM", "SIGKILL")


def revoke(app, client, task_id: str, who: Identity, terminate: bool = False,
           app_name: str | None = None, signal: str = "SIGTERM") -> dict[str, Any]:
    """Revoke `task_id` (a waiting task will never run); with `terminate`, also stop it if running
    by sending `signal` (one of `TERMINATE_SIGNALS`) to the pool process running it (prefork pool;
    a threads or solo pool cannot stop a running task, Celery's rule).

    The revoke is broadcast on the task's own app (its history record; `app_name` for an id the
    history does not know, default the console's). Audited as "revoke" or "terminate" (with the
    signal) and the app.

    Raises:
        InvalidInput: `signal` is not one of `TERMINATE_SIGNALS`.
    """
    action = "terminate" if terminate else "revoke"
    if signal not in TERMINATE_SIGNALS:
        raise InvalidInput(f"Terminate sends SIGTERM or SIGKILL, not {signal!r}.")
    reg = monitored.coerce(app)
    mon = _task_app(reg, history.get_task(client, task_id), app_name)
    detail = {"app": mon.name, **({"signal": signal} if terminate else {})}
    with act(client, who, action, task_id, detail):
        mon.celery.control.revoke(task_id, terminate=terminate, signal=signal)
        writer.annotate(client, task_id, revoke_requested=action)
    return {"ok": True, "action": action, "task_id": task_id, "app": mon.name,
            **({"signal": signal} if terminate else {})}


def abort(app, client, task_id: str, who: Identity, app_name: str | None = None) -> dict[str, Any]:
    """Mark `task_id` ABORTED in its own app's result backend (`celery.contrib.abortable`; the app
    from its history record, else `app_name`, else the console's): a running AbortableTask sees it
    through ``is_aborted()`` and stops itself; other tasks are not affected. Audited "abort" with the app.
    """
    from celery.contrib.abortable import AbortableAsyncResult

    mon = _task_app(monitored.coerce(app), history.get_task(client, task_id), app_name)
    with act(client, who, "abort", task_id, {"app": mon.name}):
        AbortableAsyncResult(task_id, app=mon.celery).abort()
    return {"ok": True, "action": "abort", "task_id": task_id, "app": mon.name}


def retry(app, client, task_id: str, who: Identity, queue: str | None = None, then=None) -> dict[str, Any]:
    """Send the task again with the same name, arguments, queue and priority on its own app; the
    new id is linked to the old. `queue` is needed only when the history does not know the task's
    queue. `then`: Celery signatures (run order) to attach as the re-sent task's chain, so they run
    after it as they would have after the original (a workflow's steps after a failed chain step).

    Raises:
        InvalidInput: unknown task, arguments not kept (over the recorder's size limit), a state
            that cannot be retried (still waiting or running), or no known queue (the message lists
            the queues of the worker that ran it, to pass as `queue`).
    """
    reg = monitored.coerce(app)
    task = history.get_task(client, task_id)
    mon = _task_app(reg, task, None)
    with act(client, who, "retry", task_id, {"app": mon.name}) as a:
        new_id, name, sent_to = _resend(reg, client, task_id, queue, then)
        a.detail.update(new_id=new_id, name=name, queue=sent_to or "routed")
        if then:
            a.detail["then"] = len(then)
    return {"ok": True, "action": "retry", "task_id": task_id, "new_id": new_id, "app": mon.name,
            "queue": sent_to}


def worker_queues(client, hostname: str | None) -> list[str]:
    """The queues `hostname` consumes as last reported ([] when unknown)."""
    if not hostname:
        return []
    for w in workers.list_workers(client):
        if w.hostname == hostname:
            return list(w.queues)
    return []


def resend_priority(celery, task: dict) -> int:
    """The ``priority=`` a re-sent task gets: the broker value its record kept (the original
    message's), else the console's "normal" level translated for `celery`'s broker, so a task
    re-sent by the console queues in the same order on Redis and on RabbitMQ."""
    recorded = task.get("priority")
    if recorded not in (None, ""):
        try:
            return int(recorded)
        except (TypeError, ValueError):
            pass
    return priority.for_app(celery, priority.DEFAULT_LEVEL)


def _resend(reg: monitored.MonitoredApps, client, task_id: str, queue: str | None = None,
            then=None) -> tuple[str, str, str | None]:
    """Send a finished task again on its app at its recorded priority (`resend_priority`), with
    `then` (signatures, run order) as its chain; (new id, task name, queue or None when the
    console's own routes chose it). Raises InvalidInput as `retry`."""
    task = history.get_task(client, task_id)
    if not task:
        raise InvalidInput(f"No history for task {task_id}; it is unknown or past retention.")
    if task.get("state") not in RETRYABLE_STATES:
        raise InvalidInput(f"Task {task_id} is {task.get('state')}; only finished tasks can be retried.")
    if task.get("args_json") is None or task.get("kwargs_json") is None:
        raise InvalidInput(f"The arguments of {task_id} were not kept (too large, or only Celery's cut or "
                           f"non-literal argsrepr was seen); it cannot be re-sent.")
    mon = reg.of_task(task)
    celery = mon.celery
    # A name this app registers, or one a monitored worker reported running (the record comes from
    # its Celery events, `app.monitor.events`): never an arbitrary name typed into the history.
    registered = task.get("name") in celery.tasks
    if not registered and not task.get("seen_e"):
        raise InvalidInput(f"Task {task_id}'s name {task.get('name')!r} is not registered on this Celery "
                           f"app and no monitored worker reported it; it cannot be re-sent.")
    target = task.get("queue") or (queue or "").strip() or None
    if target is None and not (mon.name == monitored.CONSOLE and registered):
        offered = worker_queues(client, task.get("worker"))
        raise InvalidInput(f"The queue of {task_id} ({task.get('name')}, app {mon.name}) is unknown (no "
                           f"task-sent event); choose one to send it to: "
                           + (", ".join(offered) if offered else "the worker that ran it reported none")
                           + ".")
    args, kwargs = json.loads(task["args_json"]), json.loads(task["kwargs_json"])
    # Celery takes the next chain element from the end of the list
    chain = [dict(sig) for sig in reversed(then)] if then else None
    result = celery.send_task(task["name"], args=args, kwargs=kwargs, queue=target,
                              priority=resend_priority(celery, task), chain=chain,
                              headers={RETRY_OF_HEADER: task_id})
    writer.annotate(client, task_id, retried_as=result.id)
    return result.id, task["name"], target


#: States a bulk retry re-sends (a bulk retry of SUCCESS tasks would repeat their effects).
BULK_RETRY_STATES = frozenset({"FAILURE", "REVOKED"})


def bulk_preview(client, flt: history.TaskFilter, action: str, limit: int = 500) -> dict[str, int]:
    """Dry run of `bulk`: ``{'matching', 'would_act'}`` counts, nothing changed or audited."""
    tasks = history.list_tasks(client, flt, limit=limit)
    act_on = [t for t in tasks if action != "retry" or t.get("state") in BULK_RETRY_STATES]
    return {"matching": len(tasks), "would_act": len(act_on)}


def bulk(app, client, flt: history.TaskFilter, action: str, who: Identity, limit: int = 500) -> dict[str, Any]:
    """Apply revoke / terminate / retry to the tasks matching `flt` (newest first, at most `limit`).

    Retry re-sends only FAILURE and REVOKED tasks (`BULK_RETRY_STATES`); others are skipped with the
    reason. One audit entry ("bulk_<action>", target = the filter) with the count done and skipped.

    Raises:
        InvalidInput: unknown action.
    """
    if action not in ("revoke", "terminate", "retry"):
        raise InvalidInput(f"Unknown bulk action {action!r}.")
    done, skipped = [], []
    reg = monitored.coerce(app)
    target = json.dumps({k: v for k, v in vars(flt).items() if v})
    with act(client, who, f"bulk_{action}", target) as a:
        tasks = history.list_tasks(client, flt, limit=limit)
        a.detail["apps"] = sorted({t.get("app") or monitored.CONSOLE for t in tasks})
        for task in tasks:
            try:
                if action == "retry" and task.get("state") not in BULK_RETRY_STATES:
                    raise InvalidInput(f"{task.get('state')}: bulk retry covers FAILURE and REVOKED only.")
                if action == "retry":
                    done.append(_resend(reg, client, task["id"])[0])
                else:
                    reg.of_task(task).celery.control.revoke(task["id"], terminate=action == "terminate",
                                                            signal="SIGTERM")
                    writer.annotate(client, task["id"], revoke_requested=action)
                    done.append(task["id"])
            except InvalidInput as exc:
                skipped.append({"id": task["id"], "reason": str(exc)})
        a.detail.update(count=len(done), skipped=len(skipped))
    return {"ok": True, "action": action, "done": done, "skipped": skipped}


def purge_queue(client, broker, queue: str, who: Identity, known_queues, app_name: str | None = None) -> dict[str, Any]:
    """Delete the waiting messages of one queue (not the reserved ones); audited with the count.

    `broker` is the queue's app's `brokers.Broker` (Redis or RabbitMQ; `MonitoredApp.broker`) or a
    Redis client on that broker database; `app_name` is named in the audit entry.

    Raises:
        InvalidInput: `queue` is not one of `known_queues`.
    """
    with act(client, who, "purge", queue, {"app": app_name or monitored.CONSOLE}) as a:
        if queue not in known_queues:
            raise InvalidInput(f"Unknown queue {queue!r}.")
        removed = a.detail["removed"] = brokers.coerce(broker).purge(queue)
    return {"ok": True, "action": "purge", "queue": queue, "removed": removed}


def _need_task_name(task_name: str | None) -> None:
    if not (task_name or "").strip():
        raise InvalidInput("Choose a task name (none is known for this app yet: its workers have run no task).")


def set_rate_limit(app, client, task_name: str, rate: str, who: Identity, app_name: str | None = None) -> dict[str, Any]:
    """Set `task_name`'s rate limit on every worker of app `app_name` (default the console's;
    "10/m", "2/s", "" or "0" to clear).

    Raises:
        InvalidInput: no task name; the rate is not ``<int>/<s|m|h>`` or empty; unknown app.
    """
    from celery.utils.time import rate as parse_rate

    rate = (rate or "").strip()
    mon = monitored.coerce(app).get(app_name)
    with act(client, who, "rate_limit", task_name or "", {"rate": rate or "none", "app": mon.name}) as a:
        _need_task_name(task_name)
        if rate not in ("", "0"):
            try:
                parse_rate(rate)
            except (ValueError, TypeError, KeyError) as exc:
                raise InvalidInput(f"Rate limit {rate!r} is not like 10/m, 2/s or 100/h.") from exc
        replies = _replies(mon.celery.control.rate_limit(task_name, rate or None, reply=True, timeout=REPLY_TIMEOUT_S))
        rate_limits.set_rate(client, task_name, rate)
        a.outcome = "ok" if replies else "no worker replied"
        a.detail["workers"] = list(replies)
    return {"ok": bool(replies), "action": "rate_limit", "replies": replies, "app": mon.name}


def set_time_limit(app, client, task_name: str, soft_s: float | None, hard_s: float | None, who: Identity,
                   app_name: str | None = None, destination: str | None = None) -> dict[str, Any]:
    """Set `task_name`'s soft and hard time limits (seconds; None leaves that one unset) on every
    worker of app `app_name`, or only on worker `destination` (its app then taken from the worker's
    record when `app_name` is None) (Celery's ``time_limit`` command; prefork and threads workers).

    Raises:
        InvalidInput: no task name; a limit not > 0, or soft above hard; unknown app.
    """
    reg = monitored.coerce(app)
    mon = _worker_app(reg, client, destination, app_name) if destination else reg.get(app_name)
    with act(client, who, "time_limit", task_name or "", {"soft_s": soft_s, "hard_s": hard_s, "app": mon.name,
                                                         "worker": destination or "all"}) as a:
        _need_task_name(task_name)
        for value in (soft_s, hard_s):
            if value is not None and not value > 0:
                raise InvalidInput(f"Time limits are seconds above 0, got {value!r}.")
        if soft_s is not None and hard_s is not None and soft_s > hard_s:
            raise InvalidInput(f"The soft limit ({soft_s} s) is above the hard limit ({hard_s} s).")
        replies = _replies(mon.celery.control.time_limit(task_name, soft=soft_s, hard=hard_s, reply=True,
                                                         timeout=REPLY_TIMEOUT_S,
                                                         destination=[destination] if destination else None))
        a.outcome = "ok" if replies else "no worker replied"
        a.detail["workers"] = list(replies)
    return {"ok": bool(replies), "action": "time_limit", "replies": replies, "app": mon.name}


def _worker_command(app, client, hostname: str, who: Identity, action: str, send, detail: dict | None = None,
                    app_name: str | None = None) -> dict[str, Any]:
    """Run one remote-control command on `hostname` (its app from the history), audited as `action`."""
    mon = _worker_app(monitored.coerce(app), client, hostname, app_name)
    with act(client, who, action, hostname, {**(detail or {}), "app": mon.name}) as a:
        replies = _replies(send(mon.celery.control))
        a.outcome = "ok" if replies else "no worker replied"
        a.detail["reply"] = replies
    return {"ok": bool(replies), "replies": replies, "app": mon.name}


def pool_resize(app, client, hostname: str, delta: int, who: Identity, app_name: str | None = None) -> dict[str, Any]:
    """Grow (delta > 0) or shrink (delta < 0) a worker's pool by |delta| processes."""
    n = abs(delta)
    return _worker_command(app, client, hostname, who, "pool_grow" if delta > 0 else "pool_shrink",
                           lambda c: (c.pool_grow if delta > 0 else c.pool_shrink)(
                               n, destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S),
                           {"n": n}, app_name)


def autoscale(app, client, hostname: str, max_concurrency: int, min_concurrency: int, who: Identity,
              app_name: str | None = None) -> dict[str, Any]:
    """Set a worker's autoscaler bounds (the worker must run with --autoscale).

    Raises:
        InvalidInput: bounds not 0 <= min <= max, max >= 1.
    """
    if not (0 <= min_concurrency <= max_concurrency and max_concurrency >= 1):
        raise InvalidInput(f"Autoscale needs 0 <= min <= max and max >= 1, got {min_concurrency}..{max_concurrency}.")
    return _worker_command(app, client, hostname, who, "pool_autoscale",
                           lambda c: c.autoscale(max_concurrency, min_concurrency, destination=[hostname],
                                                 reply=True, timeout=REPLY_TIMEOUT_S),
                           {"max": max_concurrency, "min": min_concurrency}, app_name)


def pool_restart(app, client, hostname: str, who: Identity, app_name: str | None = None) -> dict[str, Any]:
    """Restart a worker's pool processes (the worker must allow it: ``worker_pool_restarts``)."""
    return _worker_command(app, client, hostname, who, "pool_restart",
                           lambda c: c.pool_restart(destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S),
                           None, app_name)


def shutdown_worker(app, client, hostname: str, who: Identity, app_name: str | None = None) -> dict[str, Any]:
    """Ask a worker to shut down warm (it finishes its running tasks first)."""
    return _worker_command(app, client, hostname, who, "worker_shutdown",
                           lambda c: c.broadcast("shutdown", destination=[hostname], reply=True,
                                                 timeout=REPLY_TIMEOUT_S),
                           None, app_name)


def consumer(app, client, hostname: str, queue: str, add: bool, who: Identity,
             app_name: str | None = None) -> dict[str, Any]:
    """Make a worker start (add) or stop (cancel) consuming `queue`."""
    return _worker_command(app, client, hostname, who, "add_consumer" if add else "cancel_consumer",
                           lambda c: (c.add_consumer if add else c.cancel_consumer)(
                               queue, destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S),
                           {"queue": queue}, app_name)


# ---- queue pause/resume, failure groups -------------------------------------------------------------

def pause_queue(app, client, queue: str, who: Identity, known_queues, app_name: str | None = None) -> dict[str, Any]:
    """Pause `queue` of app `app_name` (default the console's) on every worker of that app,
    remembered for workers that start later (`queue_control`).

    Raises:
        InvalidInput: `queue` is not one of `known_queues`; unknown app.
    """
    from app.monitor import queue_control

    mon = monitored.coerce(app).get(app_name)
    with act(client, who, "queue_pause", queue, {"app": mon.name}) as a:
        if queue not in known_queues:
            raise InvalidInput(f"Unknown queue {queue!r}.")
        out = queue_control.pause(mon.celery, client, queue, who.name if who else "?", mon.name)
        a.detail["workers"] = sorted(out["replies"])
    return out


def resume_queue(app, client, queue: str, who: Identity, app_name: str | None = None) -> dict[str, Any]:
    """Resume a paused queue of app `app_name` on the workers that consumed it. Raises InvalidInput
    when not paused."""
    from app.monitor import queue_control

    mon = monitored.coerce(app).get(app_name)
    with act(client, who, "queue_resume", queue, {"app": mon.name}) as a:
        if queue not in queue_control.paused(client, mon.name):
            raise InvalidInput(f"Queue {queue!r} of app {mon.name} is not paused.")
        out = queue_control.resume(mon.celery, client, queue, mon.name)
        a.detail["workers"] = sorted(out["replies"])
    return out


def retry_failure_group(app, client, fingerprint: str, who: Identity, limit: int = 500,
                        app_name: str | None = None) -> dict[str, Any]:
    """Retry every task of a failure group that is still FAILURE and not retried yet (newest first,
    at most `limit`; with `app_name`, only that app's tasks), each re-sent on its own app; one audit
    entry ("retry_group") with the apps, the count done and skipped.

    Raises:
        InvalidInput: there is no such group.
    """
    from app.store import failure_groups

    done, skipped = [], []
    reg = monitored.coerce(app)
    with act(client, who, "retry_group", fingerprint, {"app": app_name or "all"}) as a:
        if not failure_groups.exists(client, fingerprint):
            raise InvalidInput(f"There is no failure group {fingerprint!r} (past retention?).")
        for tid in failure_groups.retryable_ids(client, fingerprint, limit, app_name):
            try:
                done.append(_resend(reg, client, tid)[0])
            except InvalidInput as exc:
                skipped.append({"id": tid, "reason": str(exc)})
        a.detail.update(count=len(done), skipped=len(skipped))
    return {"ok": True, "action": "retry_group", "done": done, "skipped": skipped}
