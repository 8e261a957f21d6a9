"""Progressive first paint: a browser session's first run of a page sends its top part; the rest follows.

Why: on a fresh page load every lazily loaded Streamlit element (metric, dataframe, selectbox, plotly
chart, ...) first shows a skeleton, and the browser reveals the skeletons together once it has laid
out *everything* the script sent, then waits out React's fallback throttle (500 ms after the last
skeleton appeared; react-dom 18 ``FALLBACK_THROTTLE_MS``). On the Task Monitor that put the queue names
on screen only after the hidden tabs' ~40 widgets and the plotly charts had been rendered (2.5-7 s in
headless Chromium, bench/bench_monitor_browser.py). A short first run lets the browser show the
top part and load those element types' code; the run that follows brings the rest.

Usage in a page script::

    if first_paint.first_run("task_monitor"):   # the session's first run of the page
        ...                                      # (skip what is not in the top part)
    ... render the top part ...
    first_paint.rest("task_monitor", ["Queues"]) # first run: end it, the rest comes once "Queues" shows
    ... render the rest ...

Later runs of the session (widget reruns, fragment refreshes, coming back to the page) render
everything in one run. Sign-in and permission checks run before the page script,
in both runs, unchanged.

Under a Streamlit server the first run is not cut short by ``st.rerun()``: Streamlit drops a run's
messages still queued for the browser when the next run starts (``AppSession._clear_queue`` at
SCRIPT_STARTED, Streamlit 1.67), and while a cold browser fetches the page's JavaScript the server's
event loop is busy enough that the short run's queue figures were lost; and a rerun that follows at
once lands its plotly and dataframe placeholders while the top part is still loading, so React
reveals the lot together (after plotly's 4.7 MB chunk). `rest` ends the first run normally instead
(``st.stop()``: nothing is dropped) and the *browser* asks for the rest: a small script clicks a
hidden button once the page's `ready_texts` are on screen (``innerText`` holds only what is
revealed), and a fragment whose timer the browser starts on receiving the run does it after
REST_FALLBACK_S anyway (no script, or texts that never come, e.g. an error instead). Under AppTest
(no server session) `rest` reruns at once, so a test's ``at.run()`` sees the whole page.

A run that shows something only once (the sign-in cookie script of `app.ui.auth`) must not be cut
short: a later run would replace that element before the browser ran it. Such code calls
`skip_for_session()`, and the session's pages render in full from then on.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import streamlit as st

from app.ui.auth import fragment  # st.fragment that checks the session on each of its runs

#: Seconds after the browser received the short first run when it asks for the rest in any case.
REST_FALLBACK_S = 2.0
#: Key of the hidden button the browser's script clicks for the rest of the page.
MORE_KEY = "first_paint_more"
#: The browser's script: click the hidden button once every text is on screen (polls every 25 ms,
#: gives up after 10 s: the fallback fragment has asked by then).
_ASK_JS = """<style>.st-key-%(key)s {display: none}</style><script>(() => {
  const texts = %(texts)s, t0 = performance.now();
  const tick = () => {
    const button = document.querySelector('.st-key-%(key)s button');
    if (button && texts.every(t => document.body.innerText.includes(t))) return button.click();
    if (performance.now() - t0 < 10000) setTimeout(tick, 25);
  };
  tick();
})();</script>"""
_PREFIX = "first_paint_done:"
_SKIP = "first_paint_skip"


def first_run(page: str) -> bool:
    """True during the session's first (short) run of `page`, until `rest(page)` ends it."""
    return not (st.session_state.get(_SKIP) or st.session_state.get(_PREFIX + page))


def rest(page: str, ready_texts: Sequence[str] = ()) -> None:
    """On the first run of `page`: mark it done and end the run (raises Streamlit's stop exception,
    or under AppTest its rerun exception, so nothing after this call runs); the browser asks for the
    whole page as soon as every one of `ready_texts` is on its screen, or REST_FALLBACK_S after it
    received the run. Otherwise a no-op."""
    if first_run(page):
        st.session_state[_PREFIX + page] = True
        if not _served():
            st.rerun()
        if ready_texts:
            st.button("Show the rest of the page", key=MORE_KEY)
            st.html(_ASK_JS % {"key": MORE_KEY, "texts": json.dumps(list(ready_texts))},
                    unsafe_allow_javascript=True)
        _rest_later()
        st.stop()


def skip_for_session() -> None:
    """No short first runs in this session from now on (this run emits one-shot output)."""
    st.session_state[_SKIP] = True


@fragment(run_every=REST_FALLBACK_S)
def _rest_later() -> None:
    """Draws nothing; its first timed run (started by the browser) reruns the whole page, which no
    longer draws this fragment, so its timer ends with it."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None and getattr(ctx, "fragment_ids_this_run", None):
        st.rerun(scope="app")


def _served() -> bool:
    """True when a Streamlit server runs this script for a browser session (False under AppTest,
    whose runtime is a stand-in without a session manager)."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        info = Runtime.instance()._session_mgr.get_active_session_info(get_script_run_ctx().session_id)
        return info is not None and info.client is not None
    except Exception:  # noqa: BLE001 - not served by a Streamlit server, or a different version
        return False
