"""Run one page action and say how it went on the next run ("flash" messages in session state).

A page calls `act(...)` from a button: on success the message is kept under `key` and the script
reruns, so the page shows it once with `show(key)` at the top; bad input shows its message and
Redis trouble the Redis-down banner, both at once and without a rerun.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
import streamlit as st

from app.errors import InvalidInput
from app.ui.resources import redis_down_banner


def act(key: str, message: str, fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)``; on success store ``message.format(result=<its return value>)`` under
    `key` and rerun; on InvalidInput show its message; on a Redis error show the banner."""
    try:
        result = fn(*args)
    except InvalidInput as exc:
        st.error(str(exc))
        return
    except (redis.RedisError, OSError) as exc:
        redis_down_banner(exc)
        return
    st.session_state[key] = message.format(result=result)
    st.rerun()


def show(key: str) -> None:
    """Show (once) the message a previous `act` stored under `key`."""
    if message := st.session_state.pop(key, None):
        st.success(message)
