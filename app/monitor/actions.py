"""Operator actions on tasks, queues and workers, each written to the audit log.

Every function takes the Celery app and Redis clients as parameters and returns a short outcome
dict; failures of the remote side (no worker replied) are reported in the outcome and audited, not
raised. Broadcast commands are Celery's remote control (``app.control``; docs "Workers Guide →
Remote control"); replies are awaited for at most `REPLY_TIMEOUT_S`.
"""
from __future__ import annotations

import json
from typing import Any

from app.errors import InvalidInput
from app.monitor import audit, brokers
from app.store import history, keys, writer
from app.store.headers import RETRY_OF_HEADER

REPLY_TIMEOUT_S = 1.0
RETRYABLE_STATES = {"FAILURE", "REVOKED", "SUCCESS", "RETRY"}


def _replies(replies) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for reply in replies or []:
        merged.update(reply)
    return merged


def revoke(app, client, task_id: str, who: str, terminate: bool = False) -> dict[str, Any]:
    """Revoke `task_id` (a waiting task will never run); with `terminate`, kill it if running (SIGTERM)."""
    app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
    writer.annotate(client, task_id, revoke_requested="terminate" if terminate else "revoke")
    action = "terminate" if terminate else "revoke"
    audit.write(client, who, action, task_id)
    return {"ok": True, "action": action, "task_id": task_id}


def retry(app, client, task_id: str, who: str) -> dict[str, Any]:
    """Send the task again with the same name, arguments and queue; the new id is linked to the old.

    Raises:
        InvalidInput: unknown task, arguments not kept (over the recorder's size limit), or a state
            that cannot be retried (still waiting or running).
    """
    task = history.get_task(client, task_id)
    if not task:
        raise InvalidInput(f"No history for task {task_id}; it is unknown or past retention.")
    if task.get("state") not in RETRYABLE_STATES:
        raise InvalidInput(f"Task {task_id} is {task.get('state')}; only finished tasks can be retried.")
    if task.get("args_json") is None or task.get("kwargs_json") is None:
        raise InvalidInput(f"The arguments of {task_id} were not kept (too large); it cannot be re-sent.")
    args, kwargs = json.loads(task["args_json"]), json.loads(task["kwargs_json"])
    result = app.send_task(task["name"], args=args, kwargs=kwargs, queue=task.get("queue") or None,
                           headers={RETRY_OF_HEADER: task_id})
    writer.annotate(client, task_id, retried_as=result.id)
    audit.write(client, who, "retry", task_id, {"new_id": result.id, "name": task["name"]})
    return {"ok": True, "action": "retry", "task_id": task_id, "new_id": result.id}


def bulk(app, client, flt: history.TaskFilter, action: str, who: str, limit: int = 500) -> dict[str, Any]:
    """Apply revoke / terminate / retry to the tasks matching `flt` (newest first, at most `limit`)."""
    if action not in ("revoke", "terminate", "retry"):
        raise InvalidInput(f"Unknown bulk action {action!r}.")
    done, skipped = [], []
    for task in history.list_tasks(client, flt, limit=limit):
        try:
            if action == "retry":
                done.append(retry(app, client, task["id"], who)["new_id"])
            else:
                revoke(app, client, task["id"], who, terminate=action == "terminate")
                done.append(task["id"])
        except InvalidInput as exc:
            skipped.append({"id": task["id"], "reason": str(exc)})
    audit.write(client, who, f"bulk {action}", json.dumps({k: v for k, v in vars(flt).items() if v}),
                {"count": len(done), "skipped": len(skipped)})
    return {"ok": True, "action": action, "done": done, "skipped": skipped}


def purge_queue(client, broker, queue: str, who: str, known_queues) -> dict[str, Any]:
    """Delete the waiting messages of one queue (not the reserved ones); audited with the count.

    `broker` is a `brokers.Broker` (Redis or RabbitMQ) or a Redis client on the broker database.

    Raises:
        InvalidInput: `queue` is not one of `known_queues`.
    """
    if queue not in known_queues:
        raise InvalidInput(f"Unknown queue {queue!r}.")
    removed = brokers.coerce(broker).purge(queue)
    audit.write(client, who, "purge", queue, {"removed": removed})
    return {"ok": True, "action": "purge", "queue": queue, "removed": removed}


def set_rate_limit(app, client, task_name: str, rate: str, who: str) -> dict[str, Any]:
    """Set `task_name`'s rate limit on every worker ("10/m", "2/s", "" or "0" to clear).

    Raises:
        InvalidInput: the rate is not ``<int>/<s|m|h>`` or empty.
    """
    from celery.utils.time import rate as parse_rate

    rate = (rate or "").strip()
    if rate not in ("", "0"):
        try:
            parse_rate(rate)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"Rate limit {rate!r} is not like 10/m, 2/s or 100/h.") from exc
    replies = _replies(app.control.rate_limit(task_name, rate or None, reply=True, timeout=REPLY_TIMEOUT_S))
    client.hset(keys.RATE_LIMITS, task_name, rate)
    outcome = "ok" if replies else "no worker replied"
    audit.write(client, who, "rate_limit", task_name, {"rate": rate or "none", "workers": list(replies)}, outcome)
    return {"ok": bool(replies), "action": "rate_limit", "replies": replies}


def pool_resize(app, client, hostname: str, delta: int, who: str) -> dict[str, Any]:
    """Grow (delta > 0) or shrink (delta < 0) a worker's pool by |delta| processes."""
    fn = app.control.pool_grow if delta > 0 else app.control.pool_shrink
    replies = _replies(fn(abs(delta), destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S))
    outcome = "ok" if replies else "no worker replied"
    audit.write(client, who, "pool_grow" if delta > 0 else "pool_shrink", hostname, {"n": abs(delta), "reply": replies}, outcome)
    return {"ok": bool(replies), "replies": replies}


def consumer(app, client, hostname: str, queue: str, add: bool, who: str) -> dict[str, Any]:
    """Make a worker start (add) or stop (cancel) consuming `queue`."""
    if add:
        replies = app.control.add_consumer(queue, destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S)
    else:
        replies = app.control.cancel_consumer(queue, destination=[hostname], reply=True, timeout=REPLY_TIMEOUT_S)
    merged = _replies(replies)
    outcome = "ok" if merged else "no worker replied"
    audit.write(client, who, "add_consumer" if add else "cancel_consumer", hostname, {"queue": queue, "reply": merged}, outcome)
    return {"ok": bool(merged), "replies": merged}
