"""Progressive first paint: a browser session's first run of a page ends after its top part; the
rest comes with a full run that the server starts once that top part has reached the browser.

Why: on a fresh page load every lazily loaded Streamlit element (metric, dataframe, selectbox, plotly
chart, ...) first shows a skeleton, and the browser reveals skeletons in batches once their code
has loaded (plotly's is 4.7 MB). On the Task Monitor a full first run put the queue names on screen
only after the hidden tabs' ~40 widgets and the charts had been laid out.

How: `rest(page)` on the session's first run of `page` draws a fragment with a short timer
(`FOLLOW_UP_S`) and stops the run (``st.stop``: the run ends normally, nothing is dropped). The
browser starts that timer only when it has received the run's messages up to the fragment, so the
top part is already in the browser when the timer's run (a fragment run) asks for a full run with
``st.rerun(scope="app")``. No browser script and no hidden widget is involved, so nothing races with
the person's clicks: a click before the timer is an ordinary full run (which draws everything), and
a click while the timer's run is pending is merged with it by Streamlit's rerun queue, keeping the
click's widget states (a server-side ``st.rerun`` carries none). The full run clears the fragment's
timer in the browser (a full run resets every fragment timer), and the fragment is not drawn again;
a timer's run that was already on its way after a click's full run does nothing.

Why not ``st.rerun()`` in the first run itself: Streamlit drops a run's messages still queued for
the browser when the next run starts (``AppSession._clear_queue`` at SCRIPT_STARTED, Streamlit
1.67), so under load the top part was often lost and came only with the last frames of the rerun.

Usage in a page script::

    ... render the top part (if first_paint.first_run(page): only what needs no heavy code) ...
    first_paint.rest("task_monitor")   # first run: ends the run here; else a no-op
    ... render the rest ...

Runs without a browser (AppTest: no request headers) and later runs of the session render the
whole page in one run, as do sessions that called `skip_for_session()` (a run that shows something
only once, such as the sign-in cookie script of `app.ui.auth`, is never split).
"""
from __future__ import annotations

import streamlit as st

#: Seconds between the first run's end (in the browser) and its follow-up full run.
FOLLOW_UP_S = 0.05
_PREFIX = "first_paint_done:"
_SKIP = "first_paint_skip"
_PENDING = "first_paint_pending:"


def first_run(page: str) -> bool:
    """True during a browser session's first (short) run of `page`; False in AppTest, after
    `skip_for_session()` and on every later run."""
    if st.session_state.get(_SKIP) or st.session_state.get(_PREFIX + page):
        return False
    try:
        return bool(st.context.headers)  # a browser's websocket request; empty under AppTest
    except Exception:  # noqa: BLE001 - no script run context (bare mode)
        return False


def rest(page: str) -> None:
    """On the first run of `page`: mark it done, draw the follow-up fragment and end the run
    (raises Streamlit's stop exception, so nothing after this call runs). Otherwise a no-op."""
    if not first_run(page):
        st.session_state.pop(_PENDING + page, None)  # a full run came (a click, or the follow-up's)
        return
    st.session_state[_PREFIX + page] = st.session_state[_PENDING + page] = True
    _follow_up(page)
    st.stop()


def skip_for_session() -> None:
    """No short first runs in this session from now on (this run emits one-shot output)."""
    st.session_state[_SKIP] = True


def _follow_up(page: str) -> None:
    from app.ui.auth import fragment, in_fragment_run  # auth imports this module

    @fragment(run_every=FOLLOW_UP_S)
    def follow_up() -> None:
        """Nothing in the first run; on the timer's run, the full run with the rest of the page,
        unless a full run (a click's) has come first."""
        if in_fragment_run() and st.session_state.get(_PENDING + page):
            st.rerun(scope="app")

    follow_up()
