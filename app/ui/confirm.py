"""Two-step confirmation for operator actions: ask, then run on "Confirm", then show the outcome.

`ask(label, action)` stores a pending action bound to the identity that asked (its name and role
then); `pending_box()` renders the confirmation for it. At confirm time the person is checked again:
a pending action asked by someone else (a different person signed in on this page) is dropped
unseen, and one whose asker's role has since gone down, or who may no longer do `needs`, is refused
(audited "denied" through `app.access.authorize` when `needs` is given). Outcomes are kept in
``st.session_state['action_outcome']`` and shown once. A refusal by role (PermissionDenied, a
ConsoleError) is shown as the outcome like any other refusal.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app.errors import ConsoleError
from app.ui.text import plain

PENDING = "pending_action"
OUTCOME = "action_outcome"


def ask(label: str, action: Callable[[], Any], needs: str | None = None) -> None:
    """Ask the operator to confirm `label` before `action()` runs (reruns the whole page, so the
    confirmation shows even when asked from inside a refreshing fragment).

    `needs`: the `app.access.roles.ACTIONS` name the confirmer must still be allowed, checked again
    at confirm time (optional: the asker's role at ask time is always re-checked).
    """
    asker = who()
    st.session_state[PENDING] = {"label": label, "action": action, "needs": needs,
                                 "owner": asker.name if asker else None,
                                 "role": int(asker.role) if asker else None}
    st.rerun()


def _still_allowed(pending: dict) -> str | None:
    """Why the person now on this page may not confirm `pending` (None: they may)."""
    from app.access import authorize
    from app.ui.resources import redis_client

    now = who()
    if now is None or now.name != pending.get("owner"):
        return "asked by someone else"
    if pending.get("role") is not None and int(now.role) < pending["role"]:
        return f"your role is now {now.role.label}"
    if pending.get("needs"):
        authorize(redis_client(), now, pending["needs"], pending["label"])  # raises PermissionDenied
    return None


def pending_box() -> None:
    """Render the pending confirmation (if any) and the last outcome."""
    outcome = st.session_state.pop(OUTCOME, None)
    if outcome:
        (st.error if outcome.get("error") else st.success)(plain(outcome["text"]))
    pending = st.session_state.get(PENDING)
    if not pending:
        return
    current = who()
    if current is None or current.name != pending.get("owner"):
        st.session_state.pop(PENDING, None)  # not this person's question: never shown, never run
        return
    with st.container(border=True):
        st.warning(f"Confirm: {plain(pending['label'])}?", icon=":material/help:")
        ok, cancel = st.columns(2)
        if ok.button("Confirm", type="primary", key="confirm_yes"):
            st.session_state.pop(PENDING, None)
            try:
                refused = _still_allowed(pending)
                if refused:
                    st.session_state[OUTCOME] = {"text": f"{pending['label']} refused: {refused}; ask again.",
                                                 "error": True}
                else:
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
