"""Timed refreshes of a fragment inside a hidden tab are skipped.

``st.tabs`` draws every tab's content on each run; only the selected one is visible. A fragment
that refreshes itself (``run_every``) inside a tab the operator is not looking at would redo its
Redis reads and resend its tables every period for nothing. With the tabs created with a ``key`` and
``on_change="rerun"``, the selected tab's label is ``st.session_state[key]`` and selecting another
tab reruns the whole page, which draws that tab's content afresh.

`timed_while_selected` goes further: such a fragment gets no timer at all while its tab is hidden
(each timed run, even one that draws nothing, costs the console a fragment script run); the
page run that selecting its tab starts draws it again with its timer.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from app.ui.auth import fragment


def hidden(tabs_key: str, label: str, default: str) -> bool:
    """True on a fragment-only run (a timed refresh) while tab `label` of the tabs keyed `tabs_key`
    is not the selected one (`default`: the label selected when nothing was chosen yet). The caller
    then draws nothing: its elements come back with the page run that selecting the tab starts."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not getattr(ctx, "fragment_ids_this_run", None):
        return False
    return (st.session_state.get(tabs_key) or default) != label


def selected(tabs_key: str, label: str, default: str) -> bool:
    """True while tab `label` of the tabs keyed `tabs_key` is the selected one (`default` as in `hidden`)."""
    return (st.session_state.get(tabs_key) or default) == label


def timed_while_selected(run_every: float, is_selected: Callable[[], bool]):
    """`app.ui.auth.fragment` that refreshes every `run_every` s while `is_selected()` (its tab is
    the selected one, e.g. `selected`), and draws without a timer otherwise. Only a page run
    changes which: selecting a tab reruns the page (``on_change="rerun"``), and a page run resets
    every fragment timer in the browser. Both variants have the same identity (function and
    position), so the element is the same either way."""
    def deco(fn):
        timed, still = fragment(run_every=run_every)(fn), fragment()(fn)

        @functools.wraps(fn)
        def draw(*args, **kwargs):
            return (timed if is_selected() else still)(*args, **kwargs)

        return draw

    return deco
