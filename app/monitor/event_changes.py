"""Celery task events → history state changes (pure: no Redis, no Celery app).

A Celery event (docs "Monitoring and Management Guide → Event Reference") is a dict with ``type``,
``uuid``, ``timestamp`` (epoch seconds, already localised by `EventReceiver.event_from_message`),
``hostname`` and per-type fields. `change_for` maps one task event to the keyword arguments of the
store's state change (`app.store.writer.StateChange`):

| event          | state    | fields taken                                                     |
|----------------|----------|------------------------------------------------------------------|
| task-sent      | SENT     | name, args, kwargs, retries, eta, expires, queue/routing_key, parent_id, root_id |
| task-received  | RECEIVED | name, args, kwargs, retries, eta, expires, parent_id, root_id, worker |
| task-started   | STARTED  | worker, pid                                                      |
| task-succeeded | SUCCESS  | result (Celery's repr), runtime                                  |
| task-failed    | FAILURE  | exception, traceback                                             |
| task-retried   | RETRY    | exception (as reason), traceback                                 |
| task-revoked   | REVOKED  | terminated / expired (as reason)                                 |

Other types (task-rejected, custom ``task-*`` events) give None: they do not change the state the
history keeps.

Arguments in events are Celery's ``argsrepr`` / ``kwargsrepr`` (Python reprs, cut by the publisher at
``argsrepr_maxsize``, 1024 characters by default). When a repr is a Python literal
(`ast.literal_eval`) it is stored as JSON text with secret-named keys masked, exactly like the
signal recorder stores arguments, and its exact JSON is kept for "retry with the same arguments".
A repr that is not a literal (cut short, or objects) is stored as display text with secret-named
values masked, and the task cannot be re-sent from the console.
"""
from __future__ import annotations

import ast
import json
import re
from typing import Any

from app.telemetry.redaction import SECRET_WORDS, to_text

#: Event type -> history state (celery.events.state.TASK_EVENT_TO_STATE, less task-rejected).
EVENT_STATES = {"task-sent": "SENT", "task-received": "RECEIVED", "task-started": "STARTED",
                "task-succeeded": "SUCCESS", "task-failed": "FAILURE", "task-retried": "RETRY",
                "task-revoked": "REVOKED"}
#: Display caps, as the signal recorder's (args 2,000, result 8,000, traceback 8,000 characters).
ARGS_MAX_CHARS = 2_000
RESULT_MAX_CHARS = 8_000
TRACEBACK_MAX_CHARS = 8_000
ARGS_JSON_MAX_BYTES = 64 * 1024
_SECRET_VALUE_RE = re.compile(
    r"""((?:['"])?[\w-]*(?:%s)[\w-]*(?:['"])?\s*[:=]\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^,)}\]\s]+)"""
    % "|".join(re.escape(w) for w in SECRET_WORDS), re.IGNORECASE)


def mask_repr(text: str) -> str:
    """`text` (a Python repr) with the values of secret-named keys replaced by ``'***'``."""
    return _SECRET_VALUE_RE.sub(lambda m: f"{m.group(1)}'***'", text)


_EMPTY = {"()": (), "[]": [], "{}": {}}


def _literal(text: Any):
    """The Python literal a repr stands for, or raise ValueError."""
    if not isinstance(text, str):
        return text
    if text in _EMPTY:  # most kwargs reprs: no parse
        return _EMPTY[text]
    return ast.literal_eval(text)


def arguments(args_repr: Any, kwargs_repr: Any) -> dict[str, str | None]:
    """Display text and exact JSON of an event's args/kwargs reprs.

    Returns ``{'args', 'kwargs', 'args_json', 'kwargs_json'}``; the ``*_json`` values are None when
    a repr is not a JSON-able Python literal (then the task cannot be re-sent as is).
    """
    out: dict[str, str | None] = {"args": None, "kwargs": None, "args_json": None, "kwargs_json": None}
    for key, raw, kind in (("args", args_repr, (list, tuple)), ("kwargs", kwargs_repr, dict)):
        if raw is None or raw == "":
            continue
        try:
            value = _literal(raw)
            if not isinstance(value, kind):
                raise ValueError(f"{key} is not a {kind}")
            value = list(value) if key == "args" else dict(value)
            exact = json.dumps(value, ensure_ascii=False)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            text = raw if isinstance(raw, str) else repr(raw)
            out[key] = mask_repr(text)[:ARGS_MAX_CHARS]
            continue
        out[key] = to_text(value, ARGS_MAX_CHARS, exact=exact)
        out[f"{key}_json"] = exact if len(exact.encode()) <= ARGS_JSON_MAX_BYTES else None
    return out


def _cut(text: Any, limit: int) -> str | None:
    if text is None or text == "":
        return None
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change_for(event: dict[str, Any], with_arguments: bool = True) -> dict[str, Any] | None:
    """The state change (keyword arguments of `StateChange`) one task event stands for, or None.

    `with_arguments=False` skips parsing args/kwargs (the caller already recorded them for this
    task from its task-sent event: task-received repeats the same reprs). Raises nothing: a
    malformed event (no ``uuid`` / ``timestamp``) gives None.
    """
    state = EVENT_STATES.get(event.get("type", ""))
    task_id = event.get("uuid")
    timestamp = event.get("timestamp")
    if state is None or not task_id or not isinstance(timestamp, (int, float)):
        return None
    change: dict[str, Any] = {"task_id": task_id, "state": state, "timestamp": float(timestamp),
                              "source": "events"}
    hostname = event.get("hostname") or None
    kind = event["type"]
    if kind in ("task-sent", "task-received"):
        if with_arguments:
            change.update(arguments(event.get("args"), event.get("kwargs")))
        for key in ("name", "eta", "expires", "parent_id", "root_id"):
            if event.get(key):
                change[key] = str(event[key])
        if event.get("retries") is not None:
            change["retries"] = int(event["retries"])
        if kind == "task-sent":
            queue = event.get("queue") or event.get("routing_key")
            if queue:
                change["queue"] = str(queue)
        else:
            change["worker"] = hostname
    elif kind == "task-started":
        change["worker"] = hostname
        if event.get("pid"):
            change["fields"] = {"pid": int(event["pid"])}
    elif kind == "task-succeeded":
        change["worker"] = hostname
        change["result"] = _cut(mask_repr(str(event.get("result", ""))), RESULT_MAX_CHARS)
        if isinstance(event.get("runtime"), (int, float)):
            change["runtime_s"] = round(float(event["runtime"]), 6)
    elif kind in ("task-failed", "task-retried"):
        change["worker"] = hostname
        exception = _cut(event.get("exception"), 2_000)
        change["traceback"] = _cut(event.get("traceback"), TRACEBACK_MAX_CHARS)
        if kind == "task-failed":
            change["exception"] = exception
        else:
            change["reason"] = exception
        change["info"] = exception[:200] if exception else None
    elif kind == "task-revoked":
        why = "expired" if event.get("expired") else ("terminated" if event.get("terminated") else "revoked")
        change["reason"] = why
        change["info"] = why
        change["worker"] = hostname
    return {k: v for k, v in change.items() if v is not None}
