"""Timed refreshes of a fragment inside a hidden tab are skipped.

``st.tabs`` draws every tab's content on each run; only the selected one is visible. A fragment
that refreshes itself (``run_every``) inside a tab the operator is not looking at would redo its
Redis reads and resend its tables every period for nothing. With the tabs created with a ``key`` and
``on_change="rerun"``, the selected tab's label is ``st.session_state[key]`` and selecting another
tab reruns the whole page, which draws that tab's content afresh.
"""
from __future__ import annotations

import streamlit as st


def hidden(tabs_key: str, label: str, default: str) -> bool:
    """True on a fragment-only run (a timed refresh) while tab `label` of the tabs keyed `tabs_key`
    is not the selected one (`default`: the label selected when nothing was chosen yet). The caller
    then draws nothing: its elements come back with the page run that selecting the tab starts."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not getattr(ctx, "fragment_ids_this_run", None):
        return False
    return (st.session_state.get(tabs_key) or default) != label
