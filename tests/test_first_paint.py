"""app.ui.first_paint: with no browser (AppTest) and in sessions that skip it, a page renders whole
in one run; the split first run under a server is checked in tests/test_browser_first_paint.py."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page(skip: bool):
    def script(skip: bool):
        import streamlit as st

        from app.ui import first_paint

        if skip:
            first_paint.skip_for_session()
        st.session_state["runs"] = st.session_state.get("runs", 0) + 1
        st.session_state.setdefault("first_runs", []).append(first_paint.first_run("p"))
        st.markdown("top")
        first_paint.rest("p")
        st.markdown("rest")

    return AppTest.from_function(script, kwargs={"skip": skip}, default_timeout=30)


def test_without_a_browser_the_page_runs_once_in_full():
    at = _page(False).run()
    assert not at.exception, at.exception
    assert at.session_state["runs"] == 1 and at.session_state["first_runs"] == [False]
    assert [m.value for m in at.markdown] == ["top", "rest"]
    at.run()  # a later run of the session: one run, whole page
    assert at.session_state["runs"] == 2 and [m.value for m in at.markdown] == ["top", "rest"]


def test_skip_for_session_runs_the_page_once():
    at = _page(True).run()
    assert not at.exception, at.exception
    assert at.session_state["runs"] == 1 and at.session_state["first_runs"] == [False]
    assert [m.value for m in at.markdown] == ["top", "rest"]
