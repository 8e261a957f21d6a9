"""Run one page action and say how it went on the next run ("flash" messages in session state).

A page calls `act(...)` from a button: the call runs as the signed-in identity through the one
permission check (`app.ui.access.run`: checked by role, audited as `action` on `target`); on success
the message is kept under `key` and the script reruns, so the page shows it once with `show(key)` at
the top; bad input or a refusal by role shows its message and Redis trouble the Redis-down banner,
both at once and without a rerun.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app.store.clients import STORE_DOWN
from app.errors import ConsoleError
from app.ui.resources import redis_down_banner


def act(key: str, message: str, fn: Callable[..., Any], *args: Any, action: str, target: str) -> None:
    """Call ``fn(*args)`` as `action` on `target` (`app.access.roles.ACTIONS`; checked and audited);
    on success store ``message.format(result=<its return value>)`` under `key` and rerun; on a
    ConsoleError (bad input, PermissionDenied) show its message; on a Redis error show the banner."""
    from app.ui import access

    try:
        result = access.run(action, target, lambda: fn(*args))
    except ConsoleError as exc:
        st.error(str(exc))
        return
    except STORE_DOWN as exc:
        redis_down_banner(exc)
        return
    st.session_state[key] = message.format(result=result)
    st.rerun()


def show(key: str) -> None:
    """Show (once) the message a previous `act` stored under `key`."""
    if message := st.session_state.pop(key, None):
        st.success(message)
