"""Progressive first paint: a browser session's first run of a page sends its top part, then reruns.

Why: on a fresh page load every lazily loaded Streamlit element (metric, dataframe, selectbox, plotly
chart, ...) first shows a skeleton, and the browser reveals the skeletons together once it has laid
out *everything* the script sent, then waits out React's fallback throttle (500 ms after the last
skeleton appeared; react-dom 18 ``FALLBACK_THROTTLE_MS``). On the Task Monitor that put the queue names
on screen only after the hidden tabs' ~40 widgets and the plotly charts had been rendered (2.5-7 s in
headless Chromium, bench/bench_monitor_browser.py). A short first run lets the browser show the
top part and load those element types' code; the rerun that follows brings the rest, and the top
part is revealed as soon as its code is loaded.

Usage in a page script::

    if first_paint.first_run("task_monitor"):   # the session's first run of the page
        ...                                      # (skip what is not in the top part)
    ... render the top part ...
    first_paint.rest("task_monitor")             # first run: mark done and rerun at once; else no-op
    ... render the rest ...

The rerun is the ordinary ``st.rerun()``: AppTest follows it, so a test's ``at.run()`` sees the
whole page, as before. Later runs of the session (widget reruns, fragment refreshes, coming back to
the page) render everything in one run. Sign-in and permission checks run before the page script,
in both runs, unchanged.

Streamlit drops a run's messages still queued for the browser when the next run starts
(``AppSession._clear_queue`` at SCRIPT_STARTED, Streamlit 1.67), so `rest` first waits (at most
`SEND_WAIT_S`) until the session's queue has been handed to the connection; without it about half of
the short runs were lost on a loaded machine and the page fell back to the full-run timing.

A run that shows something only once (the sign-in cookie script of `app.ui.auth`) must not be cut
short: the rerun would replace that element before the browser ran it. Such code calls
`skip_for_session()`, and the session's pages render in full from then on.
"""
from __future__ import annotations

import time

import streamlit as st

#: Longest wait in `rest` for the short run's messages to leave the server (s).
SEND_WAIT_S = 0.5
_PREFIX = "first_paint_done:"
_SKIP = "first_paint_skip"


def first_run(page: str) -> bool:
    """True during the session's first (short) run of `page`, until `rest(page)` ends it."""
    return not (st.session_state.get(_SKIP) or st.session_state.get(_PREFIX + page))


def rest(page: str) -> None:
    """On the first run of `page`: mark it done and rerun at once (raises Streamlit's rerun
    exception, so nothing after this call runs). Otherwise a no-op."""
    if first_run(page):
        st.session_state[_PREFIX + page] = True
        _wait_until_sent(SEND_WAIT_S)
        st.rerun()


def skip_for_session() -> None:
    """No short first runs in this session from now on (this run emits one-shot output)."""
    st.session_state[_SKIP] = True


def _wait_until_sent(timeout_s: float) -> None:
    """Poll (every 5 ms, at most `timeout_s`) until this session's browser queue is empty. No wait
    where there is no server session (AppTest) or Streamlit's internals differ from 1.67's."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        info = Runtime.instance()._session_mgr.get_active_session_info(get_script_run_ctx().session_id)
        queue = info.session._browser_queue
        queue.is_empty  # noqa: B018 - the attribute must exist
    except Exception:  # noqa: BLE001 - not served by a Streamlit server, or a different version
        return
    deadline = time.monotonic() + timeout_s
    while not queue.is_empty() and time.monotonic() < deadline:
        time.sleep(0.005)
