"""The console's records in the JSON shapes of Flower 2.2's API.

A Flower task is ``celery.events.state.Task.as_dict()`` with the worker as its hostname: the keys of
`TASK_KEYS`. The history keeps the same facts under its own names (`app.store.history`); this module
renames them and converts the types (times as epoch-second floats, ``retries`` an int, ``children``
a list of ids). Flower's state names: a published task is PENDING (the history's SENT), a task that
reported progress is STARTED (the history's PROGRESS).

A Flower worker (``/api/workers``) is what its inspector gathered: ``stats``, ``active_queues``,
``registered``, ``conf`` and ``timestamp``. The console does not inspect workers per request: it
builds the same keys from their heartbeats (`app.monitor.workers`); ``conf`` is empty, ``registered``
lists the tasks of the console's own app for its workers (a foreign worker's are not known) and
``stats.total`` is empty (Flower counts per task name; the history counts per worker and state).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

#: Keys of one task, as Flower 2.2 returns them (``Task._fields``).
TASK_KEYS = ("uuid", "name", "state", "received", "sent", "started", "rejected", "succeeded", "failed",
             "retried", "revoked", "args", "kwargs", "eta", "expires", "retries", "worker", "result",
             "exception", "timestamp", "runtime", "traceback", "exchange", "routing_key", "clock", "client",
             "root", "root_id", "parent", "parent_id", "children")
#: History state -> Flower's name for it.
TO_FLOWER_STATE = MappingProxyType({"SENT": "PENDING", "PROGRESS": "STARTED"})
#: Flower's state name -> the history's (a state filter).
FROM_FLOWER_STATE = MappingProxyType({"PENDING": "SENT"})
#: Which Flower time field the history's ``finished_at`` goes to, by final state.
_FINISH_FIELD = MappingProxyType({"SUCCESS": "succeeded", "FAILURE": "failed", "REVOKED": "revoked"})


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _int(value, default: int | None = 0) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _text(value) -> str | None:
    return None if value in (None, "") else str(value)


def task(record: dict[str, Any], children: list[str] | set[str] | None = None) -> dict[str, Any]:
    """One history record (`app.store.history.get_task`) as Flower's task dict (`TASK_KEYS`)."""
    state = record.get("state") or "PENDING"
    out: dict[str, Any] = dict.fromkeys(TASK_KEYS)
    out.update(uuid=record.get("id"), name=_text(record.get("name")), state=TO_FLOWER_STATE.get(state, state),
               received=_float(record.get("received_at")), sent=_float(record.get("sent_at")),
               started=_float(record.get("started_at")), args=_text(record.get("args")),
               kwargs=_text(record.get("kwargs")), eta=_text(record.get("eta")),
               retries=_int(record.get("retries")), worker=_text(record.get("worker")),
               result=_text(record.get("result")), exception=_text(record.get("exception")),
               timestamp=_float(record.get("updated_at")), runtime=_float(record.get("runtime_s")),
               traceback=_text(record.get("traceback")), routing_key=_text(record.get("queue")), clock=0,
               root_id=_text(record.get("root_id")), parent_id=_text(record.get("parent_id")),
               children=sorted(children or ()))
    out["root"], out["parent"] = out["root_id"], out["parent_id"]
    finish = _FINISH_FIELD.get(state)
    if finish:
        out[finish] = _float(record.get("finished_at"))
    elif state == "RETRY":
        out["retried"] = _float(record.get("updated_at"))
    return out


def worker(info, registered: list[str]) -> dict[str, Any]:
    """One `app.monitor.workers.WorkerInfo` as Flower's worker dict (see the module docstring)."""
    queues = [{"name": q, "exchange": {"name": q, "type": "direct", "arguments": None, "durable": True,
                                       "passive": False, "auto_delete": False, "delivery_mode": None,
                                       "no_declare": False},
               "routing_key": q, "queue_arguments": None, "binding_arguments": None, "consumer_arguments": None,
               "durable": True, "exclusive": False, "auto_delete": False, "no_ack": False, "alias": None,
               "bindings": [], "no_declare": None, "expires": None, "message_ttl": None, "max_length": None,
               "max_length_bytes": None, "max_priority": None}
              for q in info.queues]
    stats = {"total": {}, "pid": info.pid, "clock": "0", "uptime": 0,
             "pool": {"implementation": info.pool, "max-concurrency": info.concurrency, "processes": [],
                      "max-tasks-per-child": "N/A", "put-guarded-by-semaphore": False, "timeouts": [0, 0],
                      "writes": {}},
             "broker": {}, "prefetch_count": 0, "rusage": {}}
    return {"stats": stats, "active_queues": queues, "registered": registered, "conf": {},
            "timestamp": info.last_heartbeat}
