"""Page-side helpers around `app.access`: what the signed-in person may do, and audited task submits.

- `can(action)`: show a control only when the role allows it (the server still checks on use).
- `submit(task, ...)`: ``task.apply_async(...)`` as the signed-in identity, checked and audited
  ("submit", target = task name, detail = task id); a refusal is shown with ``st.error``.
- `run(action, target, fn, ...)`: any other state-changing call, checked and audited the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app import priority
from app.access import act, allowed
from app.errors import PermissionDenied
from app.ui.auth import identity
from app.ui.text import plain
from app.ui.resources import redis_client


def can(action: str) -> bool:
    """True when the signed-in identity may do `action` (`app.access.roles.ACTIONS`)."""
    return allowed(identity(), action)


def read_only_note() -> None:
    """The line a viewer sees where a form would be."""
    ident = identity()
    st.info(f"Signed in as {plain(ident.name) if ident else 'nobody'} ({ident.role.label if ident else 'none'}): "
            f"read-only. Ask an admin for the operator role to submit tasks.", icon=":material/visibility:")


def submit(task, *, args: list | tuple | None = None, kwargs: dict | None = None, **options: Any):
    """Send `task` (a registered Celery task) with ``apply_async``; returns the AsyncResult, or None
    when the role may not submit (shown on the page and audited "denied"). Without a ``priority``
    option it goes at the console's *normal* level, translated for the broker (`app.priority`).

    Raises:
        What ``apply_async`` raises (audited "failed"), e.g. kombu's OperationalError.
    """
    options.setdefault("priority", priority.for_app(task.app, priority.DEFAULT_LEVEL))
    try:
        with act(redis_client(), identity(), "submit", task.name) as a:
            result = task.apply_async(args=args, kwargs=kwargs, **options)
            a.detail["task_id"] = result.id
            if options.get("queue"):
                a.detail["queue"] = options["queue"]
    except PermissionDenied as exc:
        st.error(str(exc), icon=":material/lock:")
        return None
    return result


def run(action: str, target: str, fn: Callable[[], Any], detail: dict | None = None) -> Any:
    """Run `fn()` as `action` on `target` for the signed-in identity (checked, audited).

    Raises:
        PermissionDenied: the role may not (audited "denied"); whatever `fn` raises (audited).
    """
    with act(redis_client(), identity(), action, target, detail) as a:
        result = fn()
        if isinstance(result, str) and len(result) <= 200:
            a.detail.setdefault("result", result)
        return result
