"""The console's own routes under ``/api/v1/``: what Flower's API lacks.

Reads go through the same store and monitor functions as the pages; changes through the action
layer (`app.monitor.actions`, `app.access.act`), so they are checked and audited like a click.

History paging is by cursor (`app.store.history.page`, which the Task Monitor's list uses too): a
page is at most `PAGE_MAX` tasks newest first, and ``next`` (when there may be more) is
``"<first-seen epoch s>:<n>"`` — the next page is the tasks first seen at or before that time,
skipping the n already returned at exactly that time. Each page costs what the first does
(O(log N + page)), however deep it is. ``until`` (epoch seconds or ISO 8601) jumps to a time.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from starlette.routing import Route

from app.access import act, audit
from app.api.calls import ApiError, Call, endpoint
from app.monitor import actions, diagnose, queue_control, workers
from app.store import failure_groups, history

PAGE_MAX = 500
AUDIT_MAX = 1000


def _time(text: str | None, name: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ApiError(400, f"{name} {text!r}: give epoch seconds or an ISO 8601 time") from None


def _links(call: Call, task_id: str) -> dict[str, str]:
    out = {"self": f"/api/v1/tasks/{task_id}", "flower": f"/api/task/info/{task_id}"}
    base = call.ctx.settings.CONSOLE_URL
    if base:
        out["console"] = f"{base.rstrip('/')}/?task={task_id}"
    return out


def list_tasks(call: Call):
    """GET /api/v1/tasks: the history with the Tasks tab's filters (state, name, queue, worker,
    since, until, search, app) and cursor paging (limit, cursor). Returns ``{tasks, next}``; each
    task's ``app`` field names its monitored app (absent: the console's own)."""
    limit = call.bounded_int("limit", 50, 1, PAGE_MAX)
    cursor = call.arg("cursor")
    if cursor:
        try:
            history.parse_cursor(cursor)
        except ValueError:
            raise ApiError(400, f"cursor {cursor!r} is not one this API returned") from None
    flt = history.TaskFilter(state=call.arg("state") or None, name=call.arg("name") or None,
                             queue=call.arg("queue") or None, worker=call.arg("worker") or None,
                             since=_time(call.arg("since"), "since"), until=_time(call.arg("until"), "until"),
                             search=call.arg("search") or None, app=_app(call))
    page, nxt = history.page(call.ctx.redis, flt, limit, cursor)
    for t in page:
        t["links"] = _links(call, t["id"])
    return {"tasks": page, "next": nxt}


def task_detail(call: Call):
    """GET /api/v1/tasks/{id}[?diagnose=false]: the record, timeline, children, links and "why
    stuck?" (404 when unknown)."""
    task_id = call.path["task_id"]
    client = call.ctx.redis
    record = history.get_task(client, task_id)
    if not record:
        raise ApiError(404, f"Unknown task '{task_id}'")
    out: dict[str, Any] = {"task": record, "timeline": history.timeline(client, task_id),
                           "children": history.children(client, task_id), "links": _links(call, task_id)}
    if call.typed("diagnose", bool, True):
        d = diagnose.diagnose(call.ctx.apps, client, call.ctx.app_broker("console"), task_id,
                              call.ctx.settings.WORKER_OFFLINE_AFTER_S)
        out["diagnosis"] = {**d, "findings": [asdict(f) for f in d["findings"]]}
    return out


def _known_task(call: Call) -> str:
    task_id = call.path["task_id"]
    if not history.get_task(call.ctx.redis, task_id):
        raise ApiError(404, f"Unknown task '{task_id}'")
    return task_id


def task_revoke(call: Call):
    """POST /api/v1/tasks/{id}/revoke[?terminate=true]."""
    task_id = _known_task(call)
    return actions.revoke(call.ctx.apps, call.ctx.redis, task_id, call.who,
                          terminate=call.typed("terminate", bool, False))


def task_retry(call: Call):
    """POST /api/v1/tasks/{id}/retry: send it again (400 when it cannot be re-sent)."""
    return actions.retry(call.ctx.apps, call.ctx.redis, _known_task(call), call.who)


def failure_group_list(call: Call):
    """GET /api/v1/failure-groups[?limit=50]: failures grouped by task, exception type and message."""
    return {"groups": failure_groups.list_groups(call.ctx.redis, call.bounded_int("limit", 50, 1, 500))}


def failure_group_retry(call: Call):
    """POST /api/v1/failure-groups/{fingerprint}/retry: retry the group's failed tasks."""
    fp = call.path["fingerprint"]
    if not failure_groups.exists(call.ctx.redis, fp):
        raise ApiError(404, f"Unknown failure group '{fp}'")
    return actions.retry_failure_group(call.ctx.apps, call.ctx.redis, fp, call.who,
                                       limit=call.bounded_int("limit", 500, 1, 500), app_name=_app(call))


def alerts_now(call: Call):
    """GET /api/v1/alerts: the rules and which of them fire now."""
    from app.alerts import engine, rules

    all_rules = rules.load_all(call.ctx.redis)
    return {"firing": engine.firing(call.ctx.redis, all_rules), "rules": [asdict(r) for r in all_rules]}


def alerts_history(call: Call):
    """GET /api/v1/alerts/history[?limit=100&rule=ID]: fired and resolved events, newest first."""
    from app.alerts import events

    return {"events": events.recent(call.ctx.redis, call.bounded_int("limit", 100, 1, 1000),
                                    call.arg("rule") or None)}


def _entry(info) -> dict[str, Any]:
    d = asdict(info)
    for k in ("last_run_at", "next_run_at"):
        d[k] = d[k].isoformat() if d[k] else None
    return d


def schedule_list(call: Call):
    """GET /api/v1/schedules: beat entries (RedBeat) with their next and last runs."""
    from app import schedules

    return {"schedules": [_entry(e) for e in schedules.list_entries(call.ctx.celery)]}


def _schedule(call: Call) -> str:
    from app import schedules

    name = call.path["name"]
    if schedules.get_entry(call.ctx.celery, name) is None:
        raise ApiError(404, f"Unknown schedule entry '{name}'")
    return name


def schedule_run(call: Call):
    """POST /api/v1/schedules/{name}/run: send its task once now."""
    from app import schedules

    name = _schedule(call)
    with act(call.ctx.redis, call.who, "schedule_run_now", name) as a:
        task_id = a.detail["task_id"] = schedules.run_now(call.ctx.celery, name)
    return {"ok": True, "name": name, "task_id": task_id}


def _set_enabled(call: Call, enabled: bool):
    from app import schedules

    name = _schedule(call)
    with act(call.ctx.redis, call.who, "schedule_enable" if enabled else "schedule_disable", name):
        info = schedules.set_enabled(call.ctx.celery, name, enabled)
    return {"ok": True, "schedule": _entry(info)}


def schedule_enable(call: Call):
    """POST /api/v1/schedules/{name}/enable."""
    return _set_enabled(call, True)


def schedule_disable(call: Call):
    """POST /api/v1/schedules/{name}/disable."""
    return _set_enabled(call, False)


def _app(call: Call) -> str | None:
    """The ``app`` parameter (a monitored app's name, None when absent). Raises ApiError(404) for an
    app not monitored."""
    name = call.arg("app")
    if name and name not in call.ctx.apps.names:
        raise ApiError(404, f"Unknown app '{name}'")
    return name or None


def queue_list(call: Call):
    """GET /api/v1/queues[?app=]: each queue's ready, reserved, consumers, latency, paused, and
    ``app``, for every monitored app (or app `app`), each read on its app's own broker."""
    only = _app(call)
    online = workers.list_workers(call.ctx.redis, call.ctx.settings.WORKER_OFFLINE_AFTER_S)
    out = []
    for app_name in call.ctx.apps.names:
        if only is not None and app_name != only:
            continue
        details = call.ctx.app_broker(app_name).details(call.ctx.queue_names(app_name),
                                                         workers.consumers_by_queue(online, app_name))
        paused = queue_control.paused(call.ctx.redis, app_name)
        out += [{**asdict(d), "app": app_name, "paused": d.name in paused, "paused_by": paused.get(d.name)}
                for d in details]
    return {"queues": out}


def _queue(call: Call) -> tuple[str, str | None]:
    """(queue, app name or None for the console's): the path's queue of app ``app``. Raises ApiError(404)."""
    name, app_name = call.path["queue"], _app(call)
    if name not in call.ctx.queue_names(app_name):
        raise ApiError(404, f"Unknown queue '{name}'")
    return name, app_name


def queue_pause(call: Call):
    """POST /api/v1/queues/{queue}/pause[?app=]: on every worker of the queue's app (default the console's)."""
    name, app_name = _queue(call)
    return actions.pause_queue(call.ctx.apps, call.ctx.redis, name, call.who, call.ctx.queue_names(app_name),
                               app_name)


def queue_resume(call: Call):
    """POST /api/v1/queues/{queue}/resume[?app=] (400 when it is not paused)."""
    name, app_name = _queue(call)
    return actions.resume_queue(call.ctx.apps, call.ctx.redis, name, call.who, app_name)


def queue_peek(call: Call):
    """GET /api/v1/queues/{queue}/peek[?n=20&app=]: the next messages a worker will take (redacted)."""
    name, app_name = _queue(call)
    n = call.bounded_int("n", 20, 1, queue_control.PEEK_MAX)
    return {"queue": name, "messages": queue_control.peek(call.ctx.app_broker(app_name or "console"), name, n)}


def audit_log(call: Call):
    """GET /api/v1/audit[?since&until&who&action&outcome&text&limit]: audit entries, newest first
    (every signed-in role reads it, as on the Users & audit page)."""
    flt = audit.AuditFilter(since=_time(call.arg("since"), "since"), until=_time(call.arg("until"), "until"),
                            who=call.arg("who", ""), action=call.arg("action", ""),
                            outcome=call.arg("outcome", ""), text=call.arg("text", ""))
    return {"entries": audit.read(call.ctx.redis, flt, call.bounded_int("limit", 200, 1, AUDIT_MAX))}


def whoami(call: Call):
    """GET /api/v1/whoami: the identity the credentials act as (name, role, auth)."""
    return {"name": call.who.name, "role": call.who.role.label, "auth": call.who.auth_method,
            "at": time.time()}


ROUTES = (
    Route("/api/v1/whoami", endpoint(whoami), methods=["GET"]),
    Route("/api/v1/tasks", endpoint(list_tasks, ("state", "name", "queue", "worker", "since", "until", "search",
                                                 "app", "limit", "cursor")), methods=["GET"]),
    Route("/api/v1/tasks/{task_id}", endpoint(task_detail, ("diagnose",)), methods=["GET"]),
    Route("/api/v1/tasks/{task_id}/revoke", endpoint(task_revoke, ("terminate",)), methods=["POST"]),
    Route("/api/v1/tasks/{task_id}/retry", endpoint(task_retry), methods=["POST"]),
    Route("/api/v1/failure-groups", endpoint(failure_group_list, ("limit",)), methods=["GET"]),
    Route("/api/v1/failure-groups/{fingerprint}/retry", endpoint(failure_group_retry, ("limit", "app")), methods=["POST"]),
    Route("/api/v1/alerts", endpoint(alerts_now), methods=["GET"]),
    Route("/api/v1/alerts/history", endpoint(alerts_history, ("limit", "rule")), methods=["GET"]),
    Route("/api/v1/schedules", endpoint(schedule_list), methods=["GET"]),
    Route("/api/v1/schedules/{name}/run", endpoint(schedule_run), methods=["POST"]),
    Route("/api/v1/schedules/{name}/enable", endpoint(schedule_enable), methods=["POST"]),
    Route("/api/v1/schedules/{name}/disable", endpoint(schedule_disable), methods=["POST"]),
    Route("/api/v1/queues", endpoint(queue_list, ("app",)), methods=["GET"]),
    Route("/api/v1/queues/{queue}/pause", endpoint(queue_pause, ("app",)), methods=["POST"]),
    Route("/api/v1/queues/{queue}/resume", endpoint(queue_resume, ("app",)), methods=["POST"]),
    Route("/api/v1/queues/{queue}/peek", endpoint(queue_peek, ("n", "app")), methods=["GET"]),
    Route("/api/v1/audit", endpoint(audit_log, ("since", "until", "who", "action", "outcome", "text", "limit")),
          methods=["GET"]),
)
