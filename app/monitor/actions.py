"""Operator actions on tasks, queues and workers, each checked and audited through `app.access.act`.

Every function takes the Celery app and Redis clients and the acting `Identity` as parameters and
returns a short outcome dict; a role below the action's (`app.access.roles.ACTIONS`) raises
PermissionDenied (audited "denied") before anything happens. Failures of the remote side (no worker
replied) are reported in the outcome and audited, not raised. Broadcast commands are Celery's remote control (``app.control``; docs "Workers Guide →
Remote control"); replies are awaited for at most `REPLY_TIMEOUT_S`.
"""
from __future__ import annotations

import json
from typing import Any

from app.access import Identity, act
from app.errors import InvalidInput
from app.monitor import brokers
from app.store import history, rate_limits, writer
from app.store.headers import RETRY_OF_HEADER

REPLY_TIMEOUT_S = 1.0
RETRYABLE_STATES = {"FAILURE", "REVOKED", "SUCCESS", "RETRY"}


def _replies(replies) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for reply in replies or []:
        merged.update(reply)
    return merged


def revoke(app, client, task_id: str, who: Identity, terminate: bool = False) -> dict[str, Any]:
    """Revoke `task_id` (a waiting task will never run); with `terminate`, kill it if running (SIGTERM)."""
    action = "terminate" if terminate else "revoke"
    with act(client, who, action, task_id):
        app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
        writer.annotate(client, task_id, revoke_requested=action)
    return {"ok": True, "action": action, "task_id": task_id}


def retry(app, client, task_id: str, who: Identity) -> dict[str, Any]:
    """Send the task again with the same name, arguments and queue; the new id is linked to the old.

    Raises:
        InvalidInput: unknown task, arguments not kept (over the recorder's size limit), or a state
            that cannot be retried (still waiting or running).
    """
    with act(client, who, "retry", task_id) as a:
        new_id, name = _resend(app, client, task_id)
        a.detail.update(new_id=new_id, name=name)
    return {"ok": True, "action": "retry", "task_id": task_id, "new_id": new_id}


def _resend(app, client, task_id: str) -> tuple[str, str]:
    """Send a finished task again; (new id, task name). Raises InvalidInput as `retry`."""
    task = history.get_task(client, task_id)
    if not task:
        raise InvalidInput(f"No history for task {task_id}; it is unknown or past retention.")
    if task.get("state") not in RETRYABLE_STATES:
        raise InvalidInput(f"Task {task_id} is {task.get('state')}; only finished tasks can be retried.")
    if task.get("args_json") is None or task.get("kwargs_json") is None:
        raise InvalidInput(f"The arguments of {task_id} were not kept (too large, or only Celery's cut or "
                           f"non-literal argsrepr was seen); it cannot be re-sent.")
    # A name this app registers, or one a monitored worker reported running (the record comes from
    # its Celery events, `app.monitor.events`): never an arbitrary name typed into the history.
    if task.get("name") not in app.tasks and not task.get("seen_e"):
        raise InvalidInput(f"Task {task_id}'s name {task.get('name')!r} is not registered on this Celery "
                           f"app and no monitored worker reported it; it cannot be re-sent.")
    args, kwargs = json.loads(task["args_json"]), json.loads(task["kwargs_json"])
    result = app.send_task(task["name"], args=args, kwargs=kwargs, queue=task.get("queue") or None,
                           headers={RETRY_OF_HEADER: task_id})
    writer.annotate(client, task_id, retried_as=result.id)
    return result.id, task["name"]


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
    target = json.dumps({k: v for k, v in vars(flt).items() if v})
    with act(client, who, f"bulk_{action}", target) as a:
        for task in history.list_tasks(client, flt, limit=limit):
            try:
                if action == "retry" and task.get("state") not in BULK_RETRY_STATES:
                    raise InvalidInput(f"{task.get('state')}: bulk retry covers FAILURE and REVOKED only.")
                if action == "retry":
                    done.append(_resend(app, client, task["id"])[0])
                else:
                    app.control.revoke(task["id"], terminate=action == "terminate", signal="SIGTERM")
                    writer.annotate(client, task["id"], revoke_requested=action)
                    done.append(task["id"])
            except InvalidInput as exc:
                skipped.append({"id": task["id"], "reason": str(exc)})
        a.detail.update(count=len(done), skipped=len(skipped))
    return {"ok": True, "action": action, "done": done, "skipped": skipped}


def purge_queue(client, broker, queue: str, who: Identity, known_queues) -> dict[str, Any]:
    """Delete the waiting messages of one queue (not the reserved ones); audited with the count.

    `broker` is a `brokers.Broker` (Redis or RabbitMQ) or a Redis client on the broker database.

    Raises:
        InvalidInput: `queue` is not one of `known_queues`.
    """
    with act(client, who, "purge", queue) as a:
        if queue not in known_queues:
            raise InvalidInput(f"Unknown queue {queue!r}.")
        removed = a.detail["removed"] = brokers.coerce(broker).purge(queue)
    return {"ok": True, "action": "purge", "queue": queue, "removed": removed}


def set_rate_limit(app, client, task_name: str, rate: str, who: Identity) -> dict[str, Any]:
    """Set `task_name`'s rate limit on every worker ("10/m", "2/s", "" or "0" to clear).

    Raises:
        InvalidInput: the rate is not ``<int>/<s|m|h>`` or empty.
    """
    from celery.utils.time import rate as parse_rate

    rate = (rate or "").strip()
    with act(client, who, "rate_limit", task_name, {"rate": rate or "none"}) as a:
        if rate not in ("", "0"):
            try:
                parse_rate(rate)
            except (ValueError, TypeError, KeyError) as exc:
                raise InvalidInput(f"Rate limit {rate!r} is not like 10/m, 2/s or 100/h.") from exc
        replies = _replies(app.control.rate_limit(task_name, rate or None, reply=True, timeout=REPLY_TIMEOUT_S))
        rate_limits.set_rate(client, task_name, rate)
        a.outcome = "ok" if replies else "no worker replied"
        a.detail["workers"] = list(replies)
    return {"ok": bool(replies), "action": "rate_limit", "replies": replies}


def pool_resize(app, client, hostname: str, delta: int, who: Identity) -> dict[str, Any]:
    """Grow (delta > 0) or shrink (delta < 0) a worker's pool by |delta| processes."""
    fn = app.control.pool_grow if delta > 0 else app.control.pool_shrink
    with act(client, who, "pool_grow" if delta > 0 else "pool_shrink", hostname, {"n": abs(delta)}) as a:
        replies = _replies(fn(abs(delta), destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S))
        a.outcome = "ok" if replies else "no worker replied"
        a.detail["reply"] = replies
    return {"ok": bool(replies), "replies": replies}


def consumer(app, client, hostname: str, queue: str, add: bool, who: Identity) -> dict[str, Any]:
    """Make a worker start (add) or stop (cancel) consuming `queue`."""
    with act(client, who, "add_consumer" if add else "cancel_consumer", hostname, {"queue": queue}) as a:
        if add:
            replies = app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S)
        else:
            replies = app.control.cancel_consumer(queue, destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S)
        merged = _replies(replies)
        a.outcome = "ok" if merged else "no worker replied"
        a.detail["reply"] = merged
    return {"ok": bool(merged), "replies": merged}


# ---- queue pause/resume, failure groups -------------------------------------------------------------

def pause_queue(app, client, queue: str, who: Identity, known_queues) -> dict[str, Any]:
    """Pause `queue` on every worker, remembered for workers that start later (`queue_control`).

    Raises:
        InvalidInput: `queue` is not one of `known_queues`.
    """
    from app.monitor import queue_control

    with act(client, who, "queue_pause", queue) as a:
        if queue not in known_queues:
            raise InvalidInput(f"Unknown queue {queue!r}.")
        out = queue_control.pause(app, client, queue, who.name if who else "?")
        a.detail["workers"] = sorted(out["replies"])
    return out


def resume_queue(app, client, queue: str, who: Identity) -> dict[str, Any]:
    """Resume a paused queue on the workers started with it. Raises InvalidInput when not paused."""
    from app.monitor import queue_control

    with act(client, who, "queue_resume", queue) as a:
        if queue not in queue_control.paused(client):
            raise InvalidInput(f"Queue {queue!r} is not paused.")
        out = queue_control.resume(app, client, queue)
        a.detail["workers"] = sorted(out["replies"])
    return out


def retry_failure_group(app, client, fingerprint: str, who: Identity, limit: int = 500) -> dict[str, Any]:
    """Retry every task of a failure group that is still FAILURE and not retried yet (newest first,
    at most `limit`); one audit entry ("retry_group") with the count done and skipped.

    Raises:
        InvalidInput: there is no such group.
    """
    from app.store import failure_groups

    done, skipped = [], []
    with act(client, who, "retry_group", fingerprint) as a:
        if not failure_groups.exists(client, fingerprint):
            raise InvalidInput(f"There is no failure group {fingerprint!r} (past retention?).")
        for tid in failure_groups.retryable_ids(client, fingerprint, limit):
            try:
                done.append(_resend(app, client, tid)[0])
            except InvalidInput as exc:
                skipped.append({"id": tid, "reason": str(exc)})
        a.detail.update(count=len(done), skipped=len(skipped))
    return {"ok": True, "action": "retry_group", "done": done, "skipped": skipped}
