"""Two-step confirmation for operator actions: ask, then run on "Confirm", then show the outcome.

`ask(key, label, action)` stores a pending action; `pending_box()` renders the confirmation for it.
Outcomes are kept in ``st.session_state['action_outcome']`` and shown once. A refusal by role
(PermissionDenied, a ConsoleError) is shown as the outcome like any other refusal.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app.errors import ConsoleError

PENDING = "pending_action"
OUTCOME = "action_outcome"


def ask(label: str, action: Callable[[], Any]) -> None:
    """Ask the operator to confirm `label` before `action()` runs (reruns the whole page, so the
    confirmation shows even when asked from inside a refreshing fragment)."""
    st.session_state[PENDING] = {"label": label, "action": action}
    st.rerun()


def pending_box() -> None:
    """Render the pending confirmation (if any) and the last outcome."""
    outcome = st.session_state.pop(OUTCOME, None)
    if outcome:
        (st.error if outcome.get("error") else st.success)(outcome["text"])
    pending = st.session_state.get(PENDING)
    if not pending:
        return
    with st.container(border=True):
        st.warning(f"Confirm: {pending['label']}?", icon=":material/help:")
        ok, cancel = st.columns(2)
        if ok.button("Confirm", type="primary", key="confirm_yes"):
            st.session_state.pop(PENDING, None)
            try:
                result = pending["action"]()
                st.session_state[OUTCOME] = {"text": f"{pending['label']}: {_short(result)}"}
            except ConsoleError as exc:
                st.session_state[OUTCOME] = {"text": f"{pending['label']} refused: {exc}", "error": True}
            st.rerun()
        if cancel.button("Cancel", key="confirm_no"):
            st.session_state.pop(PENDING, None)
            st.rerun()


def _short(result: Any) -> str:
    if isinstance(result, dict):
        keep = {k: v for k, v in result.items() if k in ("new_id", "removed", "done", "skipped", "ok", "replies")}
        if "done" in keep:
            keep["done"] = len(keep["done"])
        if "skipped" in keep:
            keep["skipped"] = len(keep["skipped"])
        return ", ".join(f"{k}={v}" for k, v in keep.items()) or "done"
    return str(result)


def who():
    """The signed-in `app.access.Identity` the actions run and are audited as (None: nobody)."""
    from app.ui.auth import identity

    return identity()
