"""The Celery-signal adapter of the task history: signal handlers that record into a
`app.store.writer.HistoryWriter`.

The handlers run in the publisher (console, beat) and in the workers, so the history is durable
across restarts of either. They turn Celery's signals into state changes (SENT at publish,
RECEIVED for ETA/rate-limited tasks, STARTED, SUCCESS/FAILURE with runtime, RETRY, REVOKED,
PROGRESS from `update_state`), mask secrets (`app.telemetry.redaction`) and hand them to the store's
writer; where and how they are stored is `app.store`'s business. History must never make a task
fail: the writer logs and swallows Redis errors.

A `SignalRecorder` is connected by its owner (`app.runtime`, once per process) with `connect` and
disconnected with `disconnect`; nothing is connected by importing this module.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import signals

from app.store import schedule_runs
from app.store.headers import RETRY_OF_HEADER, SCHEDULE_HEADER, SENT_AT_HEADER
from app.store.writer import HistoryWriter, kept_json
from app.telemetry.redaction import redact_text, to_text

#: Node names remembered at RECEIVED at most (for pools whose request.hostname is a bare host name).
RECEIVED_BY_MAX = 100_000


def _dumps(value: Any) -> str | None:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return None


def _worker_of(request) -> str | None:
    """The worker's node name (``name@host``); None when only a bare host name is known (some pools
    set request.hostname to it), so the node name recorded at RECEIVED is kept."""
    hostname = getattr(request, "hostname", None)
    return hostname if hostname and "@" in hostname else None


def _chord_callback_id(chord) -> str | None:
    """The task id of a chord's callback from a header task's ``chord`` header (a signature dict)."""
    if isinstance(chord, dict):
        return (chord.get("options") or {}).get("task_id")
    return None


def _worker_side_arguments(args, kwargs) -> dict[str, Any]:
    """For a task published by a client without the console's publish hook (no ``cc_sent_at``
    header: a plain `send_task` from another service): its arguments as the worker sees them, set
    only where the history has none yet (an events record may have them) and searchable."""
    exact_args, exact_kwargs = _dumps(list(args or ())), _dumps(dict(kwargs or {}))
    shown_args = to_text(list(args or ()), exact=exact_args)
    shown_kwargs = to_text(dict(kwargs or {}), exact=exact_kwargs)
    return {"fill": {"args": shown_args, "kwargs": shown_kwargs, "args_json": kept_json(exact_args),
                     "kwargs_json": kept_json(exact_kwargs)},
            "search_text": f"{shown_args} {shown_kwargs}", "search_if_new": True}


class SignalRecorder:
    """Celery signal handlers recording task state changes into `writer` (module docstring).

    Args:
        writer: the process's history writer.
    """

    def __init__(self, writer: HistoryWriter):
        self.writer = writer
        #: task id -> time.monotonic() at prerun (this process's running tasks).
        self._started_monotonic: dict[str, float] = {}
        #: task id -> node name seen at RECEIVED, for pools whose task.request.hostname is a bare
        #: host name (threads, solo).
        self._received_by: dict[str, str] = {}

    def _receivers(self) -> tuple:
        return ((signals.before_task_publish, self.on_publish), (signals.task_received, self.on_received),
                (signals.task_prerun, self.on_prerun), (signals.task_postrun, self.on_postrun),
                (signals.task_failure, self.on_failure), (signals.task_retry, self.on_retry),
                (signals.task_revoked, self.on_revoked), (signals.worker_process_shutdown, self.on_shutdown),
                (signals.worker_shutdown, self.on_shutdown))

    def connect(self) -> None:
        """Connect every handler (connecting twice connects once)."""
        for signal, handler in self._receivers():
            signal.connect(handler, weak=False)

    def disconnect(self) -> None:
        """Disconnect every handler."""
        for signal, handler in self._receivers():
            signal.disconnect(handler)

    def record(self, task_id: str, state: str, fields: dict[str, Any], *, sync: bool = False, **kwargs: Any) -> None:
        """Record one state change of `task_id` now (see `HistoryWriter.write`)."""
        self.writer.write(task_id, state, fields, sync=sync, **kwargs)

    def record_progress(self, task_id: str, meta: dict[str, Any]) -> None:
        """Record a PROGRESS update (meta as given to `update_state`)."""
        self.record(task_id, "PROGRESS", {"progress": to_text(meta, 1_000)},
                    info=str(meta.get("message") or "")[:200] or None)

    def record_lost_delivery(self, task_id: str, lost: int, message: str) -> None:
        """The worker holding an earlier delivery of `task_id` was lost (`lost` so far): adds a
        WORKER_LOST timeline entry and sets the hash's ``lost_deliveries`` (written at once)."""
        self.record(task_id, "STARTED", {"lost_deliveries": lost}, sync=True,
                    timeline=[{"state": "WORKER_LOST", "at": time.time(), "info": message}])

    def _note_schedule_run(self, entry: str, task_id: str) -> None:
        """Remember the last task sent for a beat schedule entry (`app.monitor.schedule_health`)."""
        client = self.writer.client()
        if client is not None:
            schedule_runs.note_sent(client, entry, task_id, time.time())

    def _note_schedule_start(self, entry: str) -> None:
        """A run of a schedule entry started: it no longer waits (`app.monitor.schedule_health`)."""
        client = self.writer.client()
        if client is not None:
            schedule_runs.note_started(client, entry)

    def on_publish(self, sender=None, body=None, exchange=None, routing_key=None, headers=None, properties=None,
                   **_):
        headers = headers if headers is not None else {}
        now = time.time()
        headers.setdefault(SENT_AT_HEADER, now)
        task_id = headers.get("id")
        retries = int(headers.get("retries") or 0)
        if retries:
            return  # a retry re-publish: task_retry records it
        args, kwargs = (body[0], body[1]) if isinstance(body, (list, tuple)) and len(body) >= 2 else ((), {})
        exact_args, exact_kwargs = _dumps(list(args)), _dumps(dict(kwargs))
        shown_args = to_text(list(args), exact=exact_args)
        shown_kwargs = to_text(dict(kwargs), exact=exact_kwargs)
        self.record(task_id, "SENT", {
            "sent_at": now, "args": shown_args, "kwargs": shown_kwargs,
            "args_json": kept_json(exact_args), "kwargs_json": kept_json(exact_kwargs),
            "eta": headers.get("eta"), "expires": headers.get("expires"),
            "parent_id": headers.get("parent_id"), "root_id": headers.get("root_id"),
            "retry_of": headers.get(RETRY_OF_HEADER), "retries": retries,
            "schedule": headers.get(SCHEDULE_HEADER), "group_id": headers.get("group"),
            "chord_id": _chord_callback_id(headers.get("chord")),
            "priority": (properties or {}).get("priority"),  # the broker's value, as sent
        }, name=headers.get("task") or sender, queue=routing_key or None, first_seen=True,
            search_text=f"{shown_args} {shown_kwargs}",  # ids are found by exact lookup, not indexed
            # a group sent from outside any task has no parent: its members are kept as the group's
            # children, so the workflow graph finds them all (app.monitor.workflow)
            parent_id=headers.get("parent_id") or headers.get("group"))
        if headers.get(SCHEDULE_HEADER):
            self._note_schedule_run(headers[SCHEDULE_HEADER], task_id)

    def on_received(self, sender=None, request=None, **_):
        if request is None:
            return
        info = request.delivery_info or {}
        eta = request.eta.isoformat() if hasattr(request.eta, "isoformat") else request.eta
        if _worker_of(request) and len(self._received_by) < RECEIVED_BY_MAX:
            self._received_by[request.id] = request.hostname
        task = getattr(request, "task", None)
        if not (eta or getattr(task, "rate_limit", None)):
            return  # starts at once: STARTED follows in ms, so spare the consumer loop a round trip
        self.record(request.id, "RECEIVED", {"received_at": time.time(), "eta": eta},
                    name=request.name, queue=info.get("routing_key"), worker=_worker_of(request), first_seen=True,
                    sync=True)

    def on_prerun(self, task_id=None, task=None, args=None, kwargs=None, **_):
        self._started_monotonic[task_id] = time.monotonic()
        req = task.request
        if getattr(req, SCHEDULE_HEADER, None):
            self._note_schedule_start(getattr(req, SCHEDULE_HEADER))
        info = req.delivery_info or {}
        extra: dict[str, Any] = {}
        if getattr(req, SENT_AT_HEADER, None) is None and not req.retries:
            extra = _worker_side_arguments(args, kwargs)
        self.record(task_id, "STARTED", {"started_at": time.time(), "retries": req.retries, "pid": os.getpid()},
                    name=task.name, queue=info.get("routing_key"),
                    worker=_worker_of(req) or self._received_by.get(task_id),
                    first_seen=True,
                    info=req.hostname, **extra)

    def on_postrun(self, task_id=None, task=None, retval=None, state=None, **_):
        started = self._started_monotonic.pop(task_id, None)
        runtime_s = round(time.monotonic() - started, 6) if started is not None else None
        worker = _worker_of(task.request) or self._received_by.get(task_id)
        self._received_by.pop(task_id, None)
        if state == "SUCCESS":
            self.record(task_id, "SUCCESS", {"finished_at": time.time(), "runtime_s": runtime_s,
                                             "result": to_text(retval, 8_000, exact=_dumps(retval))},
                        name=task.name, worker=worker)
        elif state == "FAILURE":
            self.record(task_id, "FAILURE", {"finished_at": time.time(), "runtime_s": runtime_s},
                        name=task.name, worker=worker)

    def on_failure(self, task_id=None, exception=None, einfo=None, sender=None, **_):
        message = redact_text(f"{type(exception).__name__}: {exception}"[:2_000])
        self.record(task_id, "FAILURE", {
            "finished_at": time.time(), "exception": message,
            "traceback": redact_text(str(einfo)[-8_000:]) if einfo else None,
        }, name=getattr(sender, "name", None), info=message[:200])

    def on_retry(self, request=None, reason=None, einfo=None, **_):
        if request is None:
            return
        reason = redact_text(str(reason)[:2_000])
        self.record(request.id, "RETRY", {"reason": reason, "retries": (request.retries or 0) + 1,
                                          "traceback": redact_text(str(einfo)[-8_000:]) if einfo else None},
                    worker=_worker_of(request), info=reason[:200])

    def on_revoked(self, request=None, terminated=None, signum=None, expired=None, **_):
        if request is None:
            return
        why = "expired" if expired else ("terminated" if terminated else "revoked")
        self.record(request.id, "REVOKED", {"finished_at": time.time(), "reason": why},
                    name=getattr(request, "name", None) or getattr(request, "task", None),
                    worker=_worker_of(request), info=why)

    def on_shutdown(self, **_):
        """Send what this process queued (worker process or worker shutting down)."""
        self.writer.flush()
