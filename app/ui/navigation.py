"""Make every page go through streamlit_app.py (its password gate and st.navigation).

Streamlit still treats a ``pages/`` folder beside the entry script as a legacy (v1) multipage app
until the entry script has called `st.navigation` once in the server process; a first visit straight
to ``/task_monitor`` would otherwise run the page alone, skipping the gate. `via_entry_script()`
switches the server to st.navigation mode and reruns, so the entry script runs first.
(streamlit.runtime.pages_manager.PagesManager.uses_pages_directory, Streamlit 1.67.)
"""
from __future__ import annotations

import streamlit as st


def via_entry_script() -> None:
    """Call first in every page script; a no-op when the page was reached through st.navigation."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
