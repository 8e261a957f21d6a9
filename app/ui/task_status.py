"""Live task status widget: state, progress bar and the result, refreshing until the task ends.

`task_panel` draws a fragment that re-runs every second (st.fragment(run_every=...)) while the task
is pending or running, then triggers one app rerun and draws the final state without a timer.
"""
from __future__ import annotations

from types import MappingProxyType
from collections.abc import Callable
from typing import Any

import streamlit as st

from app.ui.text import plain
from celery.result import AsyncResult

from app.ui.auth import fragment  # st.fragment that checks the session on each of its runs
from app.ui.resources import celery

READY = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
POLL_S = 1.0
#: State -> Material Symbols icon (Streamlit ships the font; emoji need a colour-emoji font the
#: browser may lack, and then show as an empty box).
_ICONS = MappingProxyType({"PENDING": ":gray[:material/hourglass_empty:]", "RECEIVED": ":gray[:material/inbox:]",
          "STARTED": ":blue[:material/play_circle:]", "PROGRESS": ":blue[:material/autorenew:]",
          "RETRY": ":orange[:material/replay:]", "SUCCESS": ":green[:material/check_circle:]",
          "FAILURE": ":red[:material/cancel:]", "REVOKED": ":orange[:material/block:]"})


def failure_message(result: AsyncResult) -> str:
    """The failure as 'ErrorType: message' without a traceback."""
    exc = result.result
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)


def _draw(task_id: str, title: str, render_result: Callable[[Any], None] | None) -> str:
    result = AsyncResult(task_id, app=celery())
    state = result.state
    st.markdown(f"**{plain(title)}** · `{task_id}` · {_ICONS.get(state, '')} {state}")
    if state in ("PROGRESS",) and isinstance(result.info, dict):
        info = result.info
        st.progress(min(max(int(info.get("percent", 0)), 0), 100), text=str(info.get("message", "")))
        if info.get("partial_text"):  # streamed text (AI tasks), shown as plain text
            st.code(info["partial_text"], language=None, wrap_lines=True)
    elif state in ("PENDING", "RECEIVED", "STARTED"):
        st.progress(0, text="waiting for a worker" if state == "PENDING" else state.lower())
    elif state == "RETRY":
        st.warning(f"Retrying: {plain(result.info)}")
    elif state == "FAILURE":
        st.error(plain(failure_message(result)))
    elif state == "REVOKED":
        st.warning("The task was revoked before it finished.")
    elif state == "SUCCESS" and render_result is not None:
        render_result(result.result)
    return state


def task_panel(task_id: str, title: str, render_result: Callable[[Any], None] | None = None) -> None:
    """Show one task's live state; calls `render_result(result)` once it has succeeded."""
    done_key = f"task_done:{task_id}"
    if st.session_state.get(done_key):
        _draw(task_id, title, render_result)
        return

    @fragment(run_every=POLL_S)
    def _live():
        state = _draw(task_id, title, None)
        if state in READY:
            st.session_state[done_key] = True
            st.rerun(scope="app")

    _live()
