"""Flower 2.2's API routes, answered from the console's history and through its action layer.

Same paths, methods, parameters, status codes and JSON keys as Flower 2.2 (flower/api/*.py), so a
script written for Flower works against the console. Deliberate differences (README "HTTP API"):

- Errors carry a JSON body ``{"error": message}`` (Flower: plain text); 401 without credentials
  always (Flower: unless FLOWER_UNAUTHENTICATED_API); 403 also when the caller's role is too low.
- ``/api/tasks`` reads the stored history (every task of the retention, not only those Flower saw
  since it started); without ``limit`` it returns at most API_TASKS_MAX tasks; ``sort_by`` other
  than the default newest-first order sorts the newest API_TASKS_MAX matching tasks; ``search``
  takes words of the arguments, a task id, and ``state:``/``name:``/``worker:`` terms.
- ``/api/workers`` is built from heartbeats and the ingested events of every monitored app (no
  ``inspect`` round trip; ``refresh`` is accepted and changes nothing): see `app.api.flower_shapes`.
  ``app=NAME`` keeps one app's workers (hostnames are the keys, so no app key is added).
- Several monitored apps: every action goes to the task's or worker's own app (its history record)
  on that app's broker; ``/api/queues/length`` lists every app's queues, each entry with an extra
  ``app`` key (``app=NAME`` keeps one app's); ``/api/task/result`` reads the task's own app's result
  backend; ``send-task`` takes ``app=NAME`` to send on another app (default the console's).
- ``/api/task/rate-limit`` sets the limit on every worker (as the Monitor page does) and answers
  with the named worker's reply; ``/api/task/revoke`` takes ``signal=SIGTERM`` only.
- ``apply``/``async-apply``/``send-task`` pass only ``countdown``, ``eta``, ``expires``,
  ``priority`` and ``queue`` (and ``timeout`` for apply) to Celery, and refuse other options (400);
  ``send-task`` sends only names the console's app registers or the history has seen (else 404);
  ``apply`` waits at most APPLY_WAIT_MAX_S.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime
from types import MappingProxyType
from typing import Any

from celery.result import AsyncResult
from starlette.routing import Route

from app.access import act
from app.api import flower_shapes as shapes
from app.api.calls import ApiError, Call, endpoint
from app.monitor import actions, workers
from app.monitor.apps import CONSOLE
from app.store import history

SORT_KEYS = frozenset({"name", "state", "received", "started"})
DATE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
APPLY_OPTIONS = frozenset({"countdown", "eta", "expires", "priority", "queue"})
#: The longest ``/api/task/apply`` waits for a result (seconds).
APPLY_WAIT_MAX_S = 300.0
_SEARCH_FILTERS = MappingProxyType({"state": "state", "name": "name", "worker": "worker"})
_SEARCH_TEXT = frozenset({"args", "kwargs", "result", "all", "uuid", "id"})


# ---- workers ---------------------------------------------------------------------------------------

def _app_of_worker(call: Call, name: str) -> str | None:
    """The monitored app worker `name` belongs to (its record), None when no record names it."""
    for w in workers.list_workers(call.ctx.redis, call.ctx.settings.WORKER_OFFLINE_AFTER_S, 1000):
        if w.hostname == name:
            return w.app
    return None


def _require_worker(call: Call, name: str | None) -> tuple[str, str]:
    """(hostname, its app). Raises ApiError(404) for a worker no app knows."""
    app_name = _app_of_worker(call, name) if name else None
    if not name or (app_name is None and name not in set(workers.hostnames(call.ctx.redis, 1000))):
        raise ApiError(404, f"Unknown worker '{name}'")
    return name, app_name or CONSOLE


def _app_arg(call: Call) -> str | None:
    """The ``app`` parameter: a monitored app's name (None when absent). Raises ApiError(404) for
    an app not monitored."""
    name = call.arg("app")
    if name and name not in call.ctx.apps.names:
        raise ApiError(404, f"Unknown app '{name}'")
    return name or None


def _registered(call: Call) -> list[str]:
    return sorted(n for n in list(call.ctx.celery.tasks) if not n.startswith("celery."))


def list_workers(call: Call):
    """GET /api/workers[?workername=&status=&refresh=&app=]: workers of every monitored app (or of
    app `app`) as Flower's inspector shows them."""
    call.typed("refresh", bool, False)
    status = call.typed("status", bool, False)
    name = call.arg("workername")
    only = _app_arg(call)
    found = [w for w in workers.list_workers(call.ctx.redis, call.ctx.settings.WORKER_OFFLINE_AFTER_S)
             if only is None or w.app == only]
    if status:
        return {w.hostname: w.online for w in found}
    if name and name not in {w.hostname for w in found}:
        raise ApiError(404, f"Unknown worker '{name}'")
    registered = _registered(call)
    return {w.hostname: shapes.worker(w, registered if "heartbeat" in w.source else [])
            for w in found if (w.online and not name) or w.hostname == name}


def _reply_ok(replies: dict, worker: str) -> str | None:
    reply = replies.get(worker) or {}
    return reply.get("ok") if isinstance(reply, dict) else None


def _reply_error(replies: dict, worker: str) -> str:
    reply = replies.get(worker) or {}
    return (reply.get("error") if isinstance(reply, dict) else None) or "Unknown reason"


def shutdown(call: Call):
    """POST /api/worker/shutdown/<worker>."""
    name, app_name = _require_worker(call, call.path["worker"])
    actions.shutdown_worker(call.ctx.apps, call.ctx.redis, name, call.who, app_name)
    return {"message": "Shutting down!"}


def pool_restart(call: Call):
    """POST /api/worker/pool/restart/<worker>."""
    name, app_name = _require_worker(call, call.path["worker"])
    replies = actions.pool_restart(call.ctx.apps, call.ctx.redis, name, call.who, app_name)["replies"]
    if _reply_ok(replies, name) is None:
        raise ApiError(403, f"Failed to restart the '{name}' pool: {_reply_error(replies, name)}")
    return {"message": f"Restarting '{name}' worker's pool"}


def _pool_resize(call: Call, grow: bool):
    name, app_name = _require_worker(call, call.path["worker"])
    n = call.typed("n", int, 1)
    if n < 1:
        raise ApiError(400, f"n must be 1 or more, got {n}")
    replies = actions.pool_resize(call.ctx.apps, call.ctx.redis, name, n if grow else -n, call.who,
                                  app_name)["replies"]
    verb = "grow" if grow else "shrink"
    if _reply_ok(replies, name) is None:
        raise ApiError(403, f"Failed to {verb} '{name}' worker's pool: {_reply_error(replies, name)}")
    return {"message": f"{'Growing' if grow else 'Shrinking'} '{name}' worker's pool by {n}"}


def pool_grow(call: Call):
    """POST /api/worker/pool/grow/<worker>?n=1."""
    return _pool_resize(call, True)


def pool_shrink(call: Call):
    """POST /api/worker/pool/shrink/<worker>?n=1."""
    return _pool_resize(call, False)


def pool_autoscale(call: Call):
    """POST /api/worker/pool/autoscale/<worker>?min=&max=."""
    name, app_name = _require_worker(call, call.path["worker"])
    low, high = call.typed("min", int, required=True), call.typed("max", int, required=True)
    replies = actions.autoscale(call.ctx.apps, call.ctx.redis, name, high, low, call.who, app_name)["replies"]
    if _reply_ok(replies, name) is None:
        raise ApiError(403, f"Failed to autoscale '{name}' worker: {_reply_error(replies, name)}")
    return {"message": f"Autoscaling '{name}' worker (min={low}, max={high})"}


def _consumer(call: Call, add: bool):
    name, app_name = _require_worker(call, call.path["worker"])
    queue = call.arg("queue", required=True)
    replies = actions.consumer(call.ctx.apps, call.ctx.redis, name, queue, add, call.who, app_name)["replies"]
    ok = _reply_ok(replies, name)
    if ok is None:
        what = f"add '{queue}' consumer to" if add else f"cancel '{queue}' consumer from"
        raise ApiError(403, f"Failed to {what} '{name}' worker: {_reply_error(replies, name)}")
    return {"message": ok}


def add_consumer(call: Call):
    """POST /api/worker/queue/add-consumer/<worker>?queue=."""
    return _consumer(call, True)


def cancel_consumer(call: Call):
    """POST /api/worker/queue/cancel-consumer/<worker>?queue=."""
    return _consumer(call, False)


# ---- tasks (read) ----------------------------------------------------------------------------------

def _received_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return time.mktime(datetime.strptime(text, "%Y-%m-%d %H:%M").timetuple())
    except ValueError:
        raise ApiError(400, "Invalid received_start or received_end, expected format 'YYYY-MM-DD HH:MM'") from None


def _search(text: str | None) -> tuple[dict[str, str], str | None]:
    """Flower's search text -> (filters, words for the history's search)."""
    filters: dict[str, str] = {}
    words: list[str] = []
    for part in (text or "").split():
        key, sep, value = part.partition(":")
        if not sep:
            words.append(part)
        elif key.lower() in _SEARCH_FILTERS and value:
            filters[_SEARCH_FILTERS[key.lower()]] = value
        elif key.lower() in _SEARCH_TEXT and value:
            words.append(value)
        else:
            raise ApiError(400, f"Unsupported search term {part!r}: use words, a task id, or state:, name:, "
                                f"worker:, args:, kwargs: terms")
    return filters, " ".join(words) or None


def _all(value: str | None) -> str | None:
    return None if value in (None, "", "All") else value


def _sort_key(key: str):
    def get(t: dict[str, Any]):
        value = t.get(key)
        return (value is None, value if value is not None else 0)
    return get


def list_tasks(call: Call):
    """GET /api/tasks: Flower's task list (see the module docstring for the differences)."""
    cap = call.ctx.settings.API_TASKS_MAX
    limit = call.typed("limit", int, None)
    offset = max(call.typed("offset", int, 0), 0)
    sort_by = call.arg("sort_by")
    if sort_by and sort_by.lstrip("-") not in SORT_KEYS:
        raise ApiError(400, f"Invalid sort_by '{sort_by}', expected one of {', '.join(sorted(SORT_KEYS))}")
    terms, words = _search(call.arg("search"))
    state = _all(call.arg("state")) or terms.get("state")
    flt = history.TaskFilter(state=shapes.FROM_FLOWER_STATE.get(state, state) if state else None,
                             name=_all(call.arg("taskname")) or terms.get("name"),
                             worker=_all(call.arg("workername")) or terms.get("worker"),
                             since=_received_time(call.arg("received_start")),
                             until=_received_time(call.arg("received_end")), search=words)
    limit = cap if limit is None else max(0, min(limit, cap))
    client = call.ctx.redis
    if not sort_by:
        rows = history.list_tasks_and_children(client, flt, limit=limit, offset=offset) if limit else []
        return OrderedDict((t["id"], shapes.task(t, k)) for t, k in rows)
    window = history.list_tasks(client, flt, limit=cap, max_scan=max(20_000, cap))
    key = _sort_key(sort_by.lstrip("-"))
    window.sort(key=lambda t: key(shapes.task(t)), reverse=sort_by.startswith("-"))
    page = window[offset:offset + limit]
    kids = history.children_of_each(client, [t["id"] for t in page]) if page else []
    return OrderedDict((t["id"], shapes.task(t, k)) for t, k in zip(page, kids))


def task_types(call: Call):
    """GET /api/task/types: every task name the history has seen."""
    return {"task-types": history.task_names(call.ctx.redis)}


def queue_lengths(call: Call):
    """GET /api/queues/length[?app=]: waiting messages of each monitored queue of every monitored app
    (or of app `app`), each entry ``{name, messages, app}``, each read on its app's own broker."""
    only = _app_arg(call)
    out = []
    for name in call.ctx.apps.names:
        if only is None or name == only:
            depths = call.ctx.app_broker(name).depths(call.ctx.queue_names(name))
            out += [{"name": q, "messages": n, "app": name} for q, n in depths.ready.items()]
    return {"active_queues": out}


def task_info(call: Call):
    """GET /api/task/info/<task id>: one task (404 when the history does not know it)."""
    task_id = call.path["task_id"]
    record = history.get_task(call.ctx.redis, task_id)
    if not record:
        raise ApiError(404, f"Unknown task '{task_id}'")
    return shapes.task(record, history.children(call.ctx.redis, task_id))


def _result_fields(result, response: dict[str, Any]) -> dict[str, Any]:
    value = result.result
    if isinstance(value, BaseException) or not _jsonable(value):
        value = repr(value)
    response["result"] = value
    if result.state == "FAILURE":
        response["traceback"] = result.traceback
    return response


def _jsonable(value) -> bool:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def task_result(call: Call):
    """GET /api/task/result/<task id>[?timeout=s&app=]: state, and the result once ready, read on the
    task's own app's result backend (its history record; `app` for an id the history does not
    know; default the console's)."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    task_id = call.path["task_id"]
    timeout = call.typed("timeout", float, None)
    record = history.get_task(call.ctx.redis, task_id)
    mon = call.ctx.apps.of_task(record) if record and record.get("app") else call.ctx.apps.get(_app_arg(call))
    if mon.name != CONSOLE and not mon.result_backend:
        raise ApiError(404, f"App '{mon.name}' has no result backend: the result of '{task_id}' cannot be read")
    result = AsyncResult(task_id, app=mon.celery)
    response = {"task-id": task_id, "state": result.state}
    if timeout:
        try:
            result.get(timeout=min(timeout, APPLY_WAIT_MAX_S), propagate=False)
        except CeleryTimeout:
            return response
        response["state"] = result.state
        return _result_fields(result, response)
    if result.ready():
        return _result_fields(result, response)
    return response


# ---- tasks (change) --------------------------------------------------------------------------------

def _task_options(call: Call, extra: frozenset[str] = frozenset()) -> tuple[list, dict, dict[str, Any]]:
    body = call.json_body if call.json_body is not None else {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid options")
    body = dict(body)
    args, kwargs = body.pop("args", []), body.pop("kwargs", {})
    if not isinstance(args, (list, tuple)):
        raise ApiError(400, "args must be an array")
    if not isinstance(kwargs, dict):
        raise ApiError(400, "kwargs must be an object")
    unknown = sorted(set(body) - APPLY_OPTIONS - extra)
    if unknown:
        raise ApiError(400, f"Unsupported option(s) {', '.join(unknown)}: the console passes "
                            f"{', '.join(sorted(APPLY_OPTIONS | extra))}")
    try:
        if "eta" in body:
            body["eta"] = datetime.strptime(str(body["eta"]), DATE_FORMAT)
        if "countdown" in body:
            body["countdown"] = float(body["countdown"])
        if "expires" in body:
            try:
                body["expires"] = float(body["expires"])
            except ValueError:
                body["expires"] = datetime.strptime(str(body["expires"]), DATE_FORMAT)
        if "priority" in body:
            body["priority"] = int(body["priority"])
        if "timeout" in body and body["timeout"] is not None:
            body["timeout"] = float(body["timeout"])
    except (TypeError, ValueError):
        raise ApiError(400, "Invalid option") from None
    return list(args), kwargs, body


def _submit(call: Call, name: str, send, args: list, kwargs: dict, options: dict[str, Any], celery=None):
    """Publish as the caller: checked and audited as "submit" (target: the task name), like a page's
    submit; the default priority is translated for `celery`'s broker (default the console's app)."""
    from app import priority

    options.setdefault("priority", priority.for_app(celery or call.ctx.celery, priority.DEFAULT_LEVEL))
    with act(call.ctx.redis, call.who, "submit", name) as a:
        result = send(args=args, kwargs=kwargs, **options)
        a.detail["task_id"] = result.id
        if options.get("queue"):
            a.detail["queue"] = options["queue"]
    return result


def _registered_task(call: Call, name: str):
    task = call.ctx.celery.tasks.get(name)
    if task is None:
        raise ApiError(404, f"Unknown task '{name}'")
    return task


def task_apply(call: Call):
    """POST /api/task/apply/<task name>: send and wait for the result (at most APPLY_WAIT_MAX_S)."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    name = call.path["name"]
    args, kwargs, options = _task_options(call, frozenset({"timeout"}))
    task = _registered_task(call, name)
    timeout = options.pop("timeout", None)
    result = _submit(call, name, task.apply_async, args, kwargs, options)
    response: dict[str, Any] = {"task-id": result.id}
    try:
        result.get(propagate=False, timeout=min(timeout or APPLY_WAIT_MAX_S, APPLY_WAIT_MAX_S))
    except CeleryTimeout:
        response["state"] = result.state
        return response
    _result_fields(result, response)
    response["state"] = result.state
    return response


def task_async_apply(call: Call):
    """POST /api/task/async-apply/<task name>: send; answers the id and state at once."""
    name = call.path["name"]
    args, kwargs, options = _task_options(call)
    result = _submit(call, name, _registered_task(call, name).apply_async, args, kwargs, options)
    return {"task-id": result.id, "state": result.state}


def task_send(call: Call):
    """POST /api/task/send-task/<task name>[?app=]: send by name (registered, or seen in the history)
    on the console's app, or on monitored app `app`."""
    name = call.path["name"]
    args, kwargs, options = _task_options(call)
    app = call.ctx.apps.get(_app_arg(call)).celery
    if name not in app.tasks and name not in set(history.task_names(call.ctx.redis)):
        raise ApiError(404, f"Unknown task '{name}'")
    result = _submit(call, name, lambda **kw: app.send_task(name, **kw), args, kwargs, options, app)
    return {"task-id": result.id, "state": result.state}


def task_abort(call: Call):
    """POST /api/task/abort/<task id>: mark it aborted for an AbortableTask."""
    task_id = call.path["task_id"]
    actions.abort(call.ctx.apps, call.ctx.redis, task_id, call.who)
    return {"message": f"Aborted '{task_id}'"}


def task_revoke(call: Call):
    """POST /api/task/revoke/<task id>[?terminate=true]."""
    task_id = call.path["task_id"]
    terminate = call.typed("terminate", bool, False)
    signal = call.arg("signal", "SIGTERM")
    if signal.upper() not in ("SIGTERM", "TERM"):
        raise ApiError(400, f"signal {signal!r}: the console terminates with SIGTERM only")
    actions.revoke(call.ctx.apps, call.ctx.redis, task_id, call.who, terminate=terminate)
    return {"message": f"Revoked '{task_id}'"}


def _task_and_worker(call: Call) -> tuple[str, str, str]:
    """(task name, worker, the worker's app). Raises ApiError(404) for a task name neither the
    console's app registers nor the history has seen, or an unknown worker."""
    name = call.path["name"]
    worker = call.arg("workername", required=True)
    if name not in call.ctx.celery.tasks and name not in set(history.task_names(call.ctx.redis)):
        raise ApiError(404, f"Unknown task '{name}'")
    return (name, *_require_worker(call, worker))


def task_timeout(call: Call):
    """POST /api/task/timeout/<task name> with soft=&hard=&workername=."""
    name, worker, app_name = _task_and_worker(call)
    hard, soft = call.typed("hard", float, None), call.typed("soft", float, None)
    replies = actions.set_time_limit(call.ctx.apps, call.ctx.redis, name, soft, hard, call.who, app_name,
                                     destination=worker)["replies"]
    ok = _reply_ok(replies, worker)
    if ok is None:
        raise ApiError(403, f"Failed to set timeouts: '{_reply_error(replies, worker)}'")
    return {"message": ok}


def task_rate_limit(call: Call):
    """POST /api/task/rate-limit/<task name> with ratelimit=&workername=."""
    ratelimit = call.arg("ratelimit", required=True)
    name, worker, app_name = _task_and_worker(call)
    replies = actions.set_rate_limit(call.ctx.apps, call.ctx.redis, name, ratelimit, call.who, app_name)["replies"]
    ok = _reply_ok(replies, worker)
    if ok is None:
        raise ApiError(403, f"Failed to set rate limit: '{_reply_error(replies, worker)}'")
    return {"message": ok}


ROUTES = (
    Route("/api/workers", endpoint(list_workers, ("workername", "status", "refresh", "app")), methods=["GET"]),
    Route("/api/worker/shutdown/{worker:path}", endpoint(shutdown), methods=["POST"]),
    Route("/api/worker/pool/restart/{worker:path}", endpoint(pool_restart), methods=["POST"]),
    Route("/api/worker/pool/grow/{worker:path}", endpoint(pool_grow, ("n",)), methods=["POST"]),
    Route("/api/worker/pool/shrink/{worker:path}", endpoint(pool_shrink, ("n",)), methods=["POST"]),
    Route("/api/worker/pool/autoscale/{worker:path}", endpoint(pool_autoscale, ("min", "max")), methods=["POST"]),
    Route("/api/worker/queue/add-consumer/{worker:path}", endpoint(add_consumer, ("queue",)), methods=["POST"]),
    Route("/api/worker/queue/cancel-consumer/{worker:path}", endpoint(cancel_consumer, ("queue",)), methods=["POST"]),
    Route("/api/tasks", endpoint(list_tasks, ("limit", "offset", "sort_by", "workername", "taskname", "state",
                                              "received_start", "received_end", "search")), methods=["GET"]),
    Route("/api/task/types", endpoint(task_types), methods=["GET"]),
    Route("/api/queues/length", endpoint(queue_lengths, ("app",)), methods=["GET"]),
    Route("/api/task/info/{task_id:path}", endpoint(task_info), methods=["GET"]),
    Route("/api/task/result/{task_id:path}", endpoint(task_result, ("timeout", "app")), methods=["GET"]),
    Route("/api/task/apply/{name:path}", endpoint(task_apply), methods=["POST"]),
    Route("/api/task/async-apply/{name:path}", endpoint(task_async_apply), methods=["POST"]),
    Route("/api/task/send-task/{name:path}", endpoint(task_send, ("app",)), methods=["POST"]),
    Route("/api/task/abort/{task_id:path}", endpoint(task_abort), methods=["POST"]),
    Route("/api/task/timeout/{name:path}", endpoint(task_timeout, ("soft", "hard", "workername")), methods=["POST"]),
    Route("/api/task/rate-limit/{name:path}", endpoint(task_rate_limit, ("ratelimit", "workername")), methods=["POST"]),
    Route("/api/task/revoke/{task_id:path}", endpoint(task_revoke, ("terminate", "signal")), methods=["POST"]),
)
