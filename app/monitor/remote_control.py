"""Remote-control acts the pages do not offer but Flower's API does: worker shutdown, pool restart and
autoscale, task time limits, and abort; each checked and audited through `app.access.act`.

Like `app.monitor.actions`: every function takes the Celery app, the console's Redis client and the
acting `Identity`, returns ``{'ok': bool, 'replies': {worker: reply}}`` (``ok`` False when no worker
replied, audited as "no worker replied"), and a role below the action's raises PermissionDenied
(audited "denied") before anything is sent. Replies are awaited for at most `REPLY_TIMEOUT_S`
(Celery docs "Workers Guide → Remote control").
"""
from __future__ import annotations

from typing import Any

from app.access import Identity, act
from app.errors import InvalidInput

REPLY_TIMEOUT_S = 1.0


def _merged(replies) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for reply in replies or []:
        out.update(reply)
    return out


def _broadcast(app, client, who: Identity, action: str, hostname: str, command: str,
               arguments: dict[str, Any] | None = None, reply: bool = True) -> dict[str, Any]:
    with act(client, who, action, hostname, dict(arguments or {})) as a:
        replies = _merged(app.control.broadcast(command, arguments=arguments or {}, destination=[hostname],
                                                reply=reply, timeout=REPLY_TIMEOUT_S))
        if reply:
            a.outcome = "ok" if replies else "no worker replied"
            a.detail["reply"] = replies
    return {"ok": bool(replies) or not reply, "replies": replies}


def shutdown_worker(app, client, hostname: str, who: Identity) -> dict[str, Any]:
    """Tell worker `hostname` to shut down (warm: it finishes its running tasks). No reply is awaited
    (a stopping worker may not send one), so ``ok`` is True once the command is sent."""
    return _broadcast(app, client, who, "worker_shutdown", hostname, "shutdown", reply=False)


def pool_restart(app, client, hostname: str, who: Identity) -> dict[str, Any]:
    """Restart the pool processes of `hostname` (needs ``worker_pool_restarts`` on the worker; without
    it the reply carries an ``error``)."""
    return _broadcast(app, client, who, "pool_restart", hostname, "pool_restart", {"reload": False})


def autoscale(app, client, hostname: str, low: int, high: int, who: Identity) -> dict[str, Any]:
    """Set the autoscaler bounds of `hostname` (needs ``--autoscale`` on the worker).

    Raises:
        InvalidInput: bounds below 0 or `low` above `high`.
    """
    if low < 0 or high < 0 or low > high:
        raise InvalidInput(f"Autoscale bounds min={low}, max={high}: need 0 <= min <= max.")
    return _broadcast(app, client, who, "pool_autoscale", hostname, "autoscale", {"min": low, "max": high})


def set_time_limit(app, client, task_name: str, soft: float | None, hard: float | None, who: Identity,
                   hostname: str | None = None) -> dict[str, Any]:
    """Set `task_name`'s soft/hard time limits (seconds; None leaves one unset) on `hostname` (or all).

    Raises:
        InvalidInput: a negative limit, or soft above hard.
    """
    if any(v is not None and v < 0 for v in (soft, hard)) or (soft is not None and hard is not None and soft > hard):
        raise InvalidInput(f"Time limits soft={soft}, hard={hard}: need 0 <= soft <= hard.")
    with act(client, who, "time_limit", task_name, {"soft": soft, "hard": hard, "worker": hostname or "all"}) as a:
        replies = _merged(app.control.time_limit(task_name, soft=soft, hard=hard, reply=True, timeout=REPLY_TIMEOUT_S,
                                                 destination=[hostname] if hostname else None))
        a.outcome = "ok" if replies else "no worker replied"
        a.detail["reply"] = replies
    return {"ok": bool(replies), "replies": replies}


def abort(app, client, task_id: str, who: Identity) -> dict[str, Any]:
    """Mark `task_id` ABORTED in the result backend (`celery.contrib.abortable`): a running
    AbortableTask sees it through ``is_aborted()`` and stops itself; other tasks are not affected."""
    from celery.contrib.abortable import AbortableAsyncResult

    with act(client, who, "abort", task_id):
        AbortableAsyncResult(task_id, app=app).abort()
    return {"ok": True, "replies": {}}
