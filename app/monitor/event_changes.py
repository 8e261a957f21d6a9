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

from types import MappingProxyType
import ast
import json
import re
from typing import Any

from app.telemetry.redaction import redact_text, to_text
from app.telemetry.redaction import may_hold_secret as _may_hold_secret

#: Event type -> history state (celery.events.state.TASK_EVENT_TO_STATE, less task-rejected).
EVENT_STATES = MappingProxyType({"task-sent": "SENT", "task-received": "RECEIVED", "task-started": "STARTED",
                "task-succeeded": "SUCCESS", "task-failed": "FAILURE", "task-retried": "RETRY",
                "task-revoked": "REVOKED"})
#: Display caps, as the signal recorder's (args 2,000, result 8,000, traceback 8,000 characters).
ARGS_MAX_CHARS = 2_000
RESULT_MAX_CHARS = 8_000
TRACEBACK_MAX_CHARS = 8_000
ARGS_JSON_MAX_BYTES = 64 * 1024


def mask_repr(text: str) -> str:
    """`text` (a Python repr, an exception message, a traceback) masked by the recorder's own
    redactor (`app.telemetry.redaction.redact_text`): secret-named keys' values, ``sk-…`` keys,
    ``Bearer …`` / ``Basic …`` credentials and PEM blocks become ``***``."""
    if not isinstance(text, str) or not _may_hold_secret(text):  # most texts: nothing to mask
        return text
    return redact_text(text)


_EMPTY = MappingProxyType({"()": (), "[]": [], "{}": {}})


#: Tokens of a simple Python repr: quote- and backslash-free strings, numbers, True/False/None,
#: brackets, commas, colons, spaces; anything else (group 7) sends the repr to `ast.literal_eval`.
_TOKEN_RE = re.compile(r"""'([^'"\\]*)'|"([^'"\\]*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(True|False|None)|([\[\]{}(),:])|(\s+)|(.)""")
_JSON_WORDS = MappingProxyType({"True": "true", "False": "false", "None": "null"})
_CLOSING = MappingProxyType({")": "(", "]": "[", "}": "{"})


class _NotSimple(ValueError):
    pass


def _simple_json(text: str) -> str:
    """`text` (a simple repr, `_TOKEN_RE`) rewritten as JSON: tuples as lists. Raises _NotSimple
    for anything else, including a parenthesised non-tuple such as ``(1)`` (not a tuple in Python)."""
    out: list[str] = []
    stack: list[list] = []  # [opening bracket, comma seen, anything seen]
    for m in _TOKEN_RE.finditer(text):
        i = m.lastindex
        if i == 5:
            c = m.group(5)
            if c == "," or c == ":":
                if c == "," and stack:
                    stack[-1][1] = True
                out.append(c)
                continue
            if c in "([{":
                if stack:
                    stack[-1][2] = True
                stack.append([c, False, False])
                out.append("[" if c == "(" else c)
                continue
            if not stack or stack[-1][0] != _CLOSING[c]:
                raise _NotSimple
            _, comma, seen = stack.pop()
            if c == ")":
                if seen and not comma:
                    raise _NotSimple  # "(x)" is x, not a tuple
                while out and out[-1].isspace():
                    out.pop()
                if out and out[-1] == ",":
                    out.pop()  # the 1-tuple's comma
                out.append("]")
            else:
                out.append(c)
            continue
        if i == 6:
            out.append(m.group(6))
            continue
        if i == 7:
            raise _NotSimple
        if stack:
            stack[-1][2] = True
        if i <= 2:
            out.append('"' + m.group(i) + '"')
        elif i == 3:
            out.append(m.group(3))
        else:
            out.append(_JSON_WORDS[m.group(4)])
    if stack:
        raise _NotSimple
    return "".join(out)


def _literal(text: Any):
    """The Python literal a repr stands for, or raise ValueError.

    Simple reprs (the common ``('file.csv', 3)``) are read as JSON after a token-wise rewrite
    (tuples become lists, as they do in JSON anyway): about 5x cheaper than `ast.literal_eval`,
    which reads the rest."""
    if not isinstance(text, str):
        return text
    if text in _EMPTY:  # most kwargs reprs: no parse
        return _EMPTY[text]
    try:
        return json.loads(_simple_json(text))
    except ValueError:  # _NotSimple, or not JSON after all (e.g. int dict keys): the full parser
        return ast.literal_eval(text)


_STR = r"""'[^'"\\\x00-\x1f]*'"""
_ATOM = rf"""(?:{_STR}|-?[1-9][0-9]*|0)"""
#: Flat reprs (strings without quotes, backslashes or control characters; canonical integers),
#: whose JSON is the repr with quotes swapped and brackets for parentheses, exactly as
#: ``json.dumps`` spells it: no parse at all (most tasks' arguments look like this).
_FLAT_TUPLE_RE = re.compile(rf"""\(({_ATOM}(?:, {_ATOM})+|{_ATOM},)\)""")
_FLAT_LIST_RE = re.compile(rf"""\[{_ATOM}(?:, {_ATOM})*\]""")
_FLAT_DICT_RE = re.compile(rf"""\{{{_STR}: {_ATOM}(?:, {_STR}: {_ATOM})*\}}""")


def _flat_json(text: Any, key: str) -> str | None:
    """The exact JSON of a flat args tuple/list or kwargs dict repr, or None (`_FLAT_TUPLE_RE`)."""
    if not isinstance(text, str):
        return None
    if key == "args":
        m = _FLAT_TUPLE_RE.fullmatch(text)
        if m:
            inner = m.group(1)
            return "[" + (inner[:-1] if inner[-1] == "," else inner).replace("'", '"') + "]"
        return text.replace("'", '"') if _FLAT_LIST_RE.fullmatch(text) else None
    return text.replace("'", '"') if _FLAT_DICT_RE.fullmatch(text) else None


def arguments(args_repr: Any, kwargs_repr: Any) -> dict[str, str | None]:
    """Display text and exact JSON of an event's args/kwargs reprs.

    Returns ``{'args', 'kwargs', 'args_json', 'kwargs_json'}``; the ``*_json`` values are None when
    a repr is not a JSON-able Python literal (then the task cannot be re-sent as is).
    """
    out: dict[str, str | None] = {"args": None, "kwargs": None, "args_json": None, "kwargs_json": None}
    for key, raw, kind in (("args", args_repr, (list, tuple)), ("kwargs", kwargs_repr, dict)):
        if raw is None or raw == "":
            continue
        value: Any = None
        exact = _flat_json(raw, key)
        if exact is None:
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
        if _may_hold_secret(exact):
            out[key] = to_text(json.loads(exact) if value is None else value, ARGS_MAX_CHARS, exact=exact)
        else:  # what to_text gives when redaction cannot change the text
            out[key] = exact if len(exact) <= ARGS_MAX_CHARS else exact[:ARGS_MAX_CHARS - 1] + "…"
        out[f"{key}_json"] = exact if len(exact.encode()) <= ARGS_JSON_MAX_BYTES else None
    return out


def _cut(text: Any, limit: int) -> str | None:
    if text is None or text == "":
        return None
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Keyword arguments of `app.store.writer.write` common to every event entry.
SOURCE = "events"
#: Hash fields an entry may set beyond `StateChange`'s named attributes (``StateChange.fields``).
EXTRA_FIELDS = ("pid",)


def entry_for(event: dict[str, Any], with_arguments: bool = True) -> tuple | None:
    """One task event as the store's writer queues it, or None (see `change_for`).

    Returns ``(task_id, state, fields, timestamp, kwargs)``: `fields` the hash fields (including
    the state's ``<state>_at``), `kwargs` the keyword arguments of `app.store.writer.write` (name,
    queue, worker, search_text, parent_id, info, source). Built with no intermediate dict per
    event (the ingester's hot path). Raises nothing for a malformed event.
    """
    kind = event.get("type")
    state = EVENT_STATES.get(kind)
    task_id = event.get("uuid")
    timestamp = event.get("timestamp")
    if state is None or not task_id or not isinstance(timestamp, (int, float)):
        return None
    now = float(timestamp)
    get = event.get
    kwargs: dict[str, Any] = {"source": SOURCE}
    hostname = get("hostname") or None
    if kind == "task-started":
        fields: dict[str, Any] = {"started_at": now}
        if hostname:
            kwargs["worker"] = hostname
        if get("pid"):
            fields["pid"] = int(event["pid"])
        return task_id, state, fields, now, kwargs
    if kind == "task-succeeded":
        fields = {"finished_at": now}
        if hostname:
            kwargs["worker"] = hostname
        result = _cut(mask_repr(str(get("result", ""))), RESULT_MAX_CHARS)
        if result is not None:
            fields["result"] = result
        runtime = get("runtime")
        if isinstance(runtime, (int, float)):
            fields["runtime_s"] = round(float(runtime), 6)
        return task_id, state, fields, now, kwargs
    if kind == "task-sent" or kind == "task-received":
        fields = {"sent_at": now} if kind == "task-sent" else {"received_at": now}
        if with_arguments:
            args = arguments(get("args"), get("kwargs"))
            shown_args, shown_kwargs = args["args"], args["kwargs"]
            for key, value in args.items():
                if value is not None:
                    fields[key] = value
            if shown_args or shown_kwargs:
                kwargs["search_text"] = (f"{shown_args} {shown_kwargs}" if shown_kwargs else shown_args) \
                    if shown_args else shown_kwargs
        name = get("name")
        if name:
            kwargs["name"] = str(name)
        for key in ("eta", "expires", "root_id"):
            if get(key):
                fields[key] = str(event[key])
        if get("parent_id"):
            fields["parent_id"] = kwargs["parent_id"] = str(event["parent_id"])
        if get("retries") is not None:
            fields["retries"] = int(event["retries"])
        if kind == "task-sent":
            queue = get("queue") or get("routing_key")
            if queue:
                kwargs["queue"] = str(queue)
        elif hostname:
            kwargs["worker"] = hostname
        return task_id, state, fields, now, kwargs
    fields = {"finished_at": now} if state == "FAILURE" or state == "REVOKED" else {}
    if hostname:
        kwargs["worker"] = hostname
    if kind == "task-revoked":
        why = "expired" if get("expired") else ("terminated" if get("terminated") else "revoked")
        fields["reason"] = kwargs["info"] = why
        return task_id, state, fields, now, kwargs
    # task-failed / task-retried
    exception = _cut(mask_repr(get("exception")), 2_000)
    traceback = _cut(mask_repr(get("traceback")), TRACEBACK_MAX_CHARS)
    if traceback is not None:
        fields["traceback"] = traceback
    if exception:
        fields["exception" if kind == "task-failed" else "reason"] = exception
        kwargs["info"] = exception[:200]
    return task_id, state, fields, now, kwargs


_TIME_FIELDS = frozenset(("sent_at", "received_at", "started_at", "finished_at"))


def change_for(event: dict[str, Any], with_arguments: bool = True) -> dict[str, Any] | None:
    """The state change (keyword arguments of `StateChange`) one task event stands for, or None.

    `with_arguments=False` skips parsing args/kwargs (the caller already recorded them for this
    task from its task-sent event: task-received repeats the same reprs). Raises nothing: a
    malformed event (no ``uuid`` / ``timestamp``) gives None. The same mapping as `entry_for`,
    shaped as a `StateChange` (hash fields beyond its attributes under ``fields``).
    """
    entry = entry_for(event, with_arguments)
    if entry is None:
        return None
    task_id, state, fields, now, kwargs = entry
    change: dict[str, Any] = {"task_id": task_id, "state": state, "timestamp": now, "source": SOURCE}
    extra = {}
    for key, value in fields.items():
        if key in EXTRA_FIELDS:
            extra[key] = value
        elif key not in _TIME_FIELDS:
            change[key] = value
    for key in ("name", "queue", "worker", "info"):
        if kwargs.get(key) is not None:
            change[key] = kwargs[key]
    if extra:
        change["fields"] = extra
    return change
