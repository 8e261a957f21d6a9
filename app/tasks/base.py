"""The base class every console task uses: progress reporting, input errors that never retry,
argument checks and capped redelivery.

A task is a few lines: decode arguments, call one service function, turn transient
errors into a retry. `ConsoleTask.report_progress` is the one way tasks report progress: it sets
Celery's PROGRESS state (readable with AsyncResult.info) and records it in the task history.

Before a task body runs in a worker (`ConsoleTask.__call__`):

1. its delivery is counted (`app.telemetry.deliveries`; normally already done by the result
   backend in the call that stored STARTED, `app.store.result_backend`): a task whose worker
   was lost more than MAX_DELIVERIES times fails with "worker lost N times (killed, out of memory,
   or crashed)" and is acked; each lost delivery is written on the history timeline;
2. its arguments are checked against the task's signature and annotations
   (`check_arguments`): a missing, unexpected or wrongly typed argument is `InvalidInput` naming
   the parameter, never a bare TypeError from deep inside.
"""
from __future__ import annotations

import inspect
import logging
import time
import types
from types import MappingProxyType
import typing
from functools import lru_cache
from typing import Any

from celery import Task

from app import runtime
from app.errors import InvalidInput
from app.store import result_backend
from app.telemetry import deliveries

PROGRESS = "PROGRESS"
#: `ConsoleTask.progress_every` default: reports closer than this are skipped (the Task Monitor and
#: the task pages refresh every 1-2 s, so nothing visible is lost).
PROGRESS_MIN_INTERVAL_S = 0.25
log = logging.getLogger(__name__)
_TYPE_NAMES = MappingProxyType({str: "text", int: "an integer", float: "a number", bool: "true or false",
                                list: "a list", dict: "an object (dict)", type(None): "null"})


def _accepts(annotation, value) -> bool:
    """True when JSON-decoded `value` fits `annotation` (str, int, float, bool, list, dict, None, unions
    of those, their generics); other annotations accept anything."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in typing.get_args(annotation))
    base = origin or annotation
    if base is type(None) or annotation is None:
        return value is None
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base in (str, dict):
        return isinstance(value, base)
    if base in (list, tuple):
        return isinstance(value, (list, tuple))
    return True


def _expected(annotation) -> str:
    origin = typing.get_origin(annotation)
    parts = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
    return " or ".join(_TYPE_NAMES.get(typing.get_origin(p) or p, getattr(p, "__name__", str(p))) for p in parts)


@lru_cache(maxsize=256)
def _signature(fn) -> tuple[inspect.Signature, dict]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: check names only
        hints = {}
    return inspect.signature(fn), hints


def check_arguments(name: str, fn, args: tuple, kwargs: dict) -> None:
    """Check `args`/`kwargs` against `fn`'s signature and simple annotations.

    Raises:
        InvalidInput: "<task>: missing a required argument: 'subject'", "... got an unexpected keyword
            argument 'x'", or "<task>: subject must be text, got int".
    """
    sig, hints = _signature(fn)
    short = name.rsplit(".", 1)[-1]
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidInput(f"{short}: {exc}.") from None
    for param, value in bound.arguments.items():
        annotation = hints.get(param, sig.parameters[param].annotation)
        if sig.parameters[param].kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if not _accepts(annotation, value):
            raise InvalidInput(f"{short}: {param} must be {_expected(annotation)}, got {type(value).__name__}.")


class ConsoleTask(Task):
    """Celery Task with `report_progress`; `InvalidInput` is never retried (see `retry_on`)."""

    abstract = True
    #: Errors that mean "the input is bad": fail at once with the message, whatever autoretry says.
    dont_autoretry_for = (InvalidInput,)

    def __call__(self, *args, **kwargs):
        req = self.request
        if req.id and not req.called_directly and not req.is_eager:
            self._count_delivery(req)
            check_arguments(self.name, self.run, args, kwargs)
        return super().__call__(*args, **kwargs)

    def _count_delivery(self, req) -> None:
        """Count this delivery; write lost ones on the timeline; fail past MAX_DELIVERIES."""
        rt = runtime.get()
        delivery = getattr(req, result_backend.DELIVERY_ATTR, None)  # counted with the STARTED store
        if delivery == result_backend.COUNT_FAILED:
            return  # logged there; without Redis the cap cannot be kept: run the task
        if delivery is None:
            try:
                delivery = deliveries.count(rt.redis, req.id, int(req.retries or 0))
            except Exception as exc:  # noqa: BLE001 - without Redis the cap cannot be kept; run the task
                log.warning("delivery count for %s failed: %s", req.id, exc)
                return
        req.delivery = delivery
        if delivery > 1:
            rt.recorder.record_lost_delivery(req.id, delivery - 1, deliveries.lost_message(delivery - 1))
        deliveries.check(delivery, rt.settings.MAX_DELIVERIES)

    def report_progress(self, current: int, total: int, message: str = "", **extra: Any) -> None:
        """Publish progress `current`/`total` (items, pages, recipients...) with a short message.

        Meta shape: ``{'current', 'total', 'percent' (0-100 int), 'message', **extra}``.
        """
        percent = int(100 * current / total) if total else 0
        meta = {"current": current, "total": total, "percent": percent, "message": message, **extra}
        if self.request.id and not self.request.called_directly:
            self.update_state(state=PROGRESS, meta=meta)
            runtime.get().recorder.record_progress(self.request.id, meta)

    def progress_every(self, min_interval_s: float = PROGRESS_MIN_INTERVAL_S):
        """A `report_progress` that reports at most once per `min_interval_s` seconds, counted from
        this call (normally the task's start): a step reached sooner is skipped. For per-step reports
        of work that is often quick (a small document: "opening", the operation, "done" within
        milliseconds), where every report is a stored state and a history change nobody sees — the
        pages poll every 1–2 s. Returns ``report(current, total, message="", **extra)``."""
        last = [time.monotonic()]

        def report(current: int, total: int, message: str = "", **extra: Any) -> None:
            now = time.monotonic()
            if now - last[0] >= min_interval_s:
                last[0] = now
                self.report_progress(current, total, message, **extra)
        return report
