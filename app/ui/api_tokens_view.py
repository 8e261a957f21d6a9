"""HTTP API tokens on the Users & audit page (admins): add one for a person (its text shown once),
the live tokens, and revoke one token or all of a person's. Every change goes through
`app.access.api_tokens` (checked and audited as "api_token_add" / "api_token_revoke"); only a
token's id, owner, role and times are ever listed, never its text.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.access import accounts, api_tokens
from app.access.roles import Role
from app.errors import ConsoleError
from app.ui.access import can
from app.ui.auth import identity
from app.ui.monitor_widgets import when
from app.ui.resources import redis_client, settings
from app.ui.text import plain

OWNER_ROLE = "the person's role"
_ALL_OF = "all tokens of "


def _add_form(client, names: list[str]) -> None:
    with st.form("api_token_add", clear_on_submit=True):
        c = st.columns([2, 1.5, 1])
        owner = c[0].selectbox("Person", names, key="api_token_owner")
        role = c[1].selectbox("Role (at most the person's)", [OWNER_ROLE, *(r.label for r in Role)],
                              key="api_token_role")
        expires = c[2].text_input("Expires after", value="30d", key="api_token_expires",
                                  help="e.g. 30d, 12h, 2w, or never")
        submitted = st.form_submit_button("Add token", type="primary")
    if not submitted:
        return
    try:
        token, info = api_tokens.issue(client, settings(), identity(), owner,
                                       None if role == OWNER_ROLE else role, expires)
    except ConsoleError as exc:
        st.error(plain(str(exc)))
        return
    st.success(plain(f"Token {info.id} for {info.owner} ({info.role}). Copy it now: it is shown only this once."))
    st.code(token, language=None)


def _revoke(client, tokens: list[api_tokens.TokenInfo]) -> None:
    choices = [f"{t.id} — {t.owner}" for t in tokens] + sorted({_ALL_OF + t.owner for t in tokens})
    c = st.columns([3, 1])
    chosen = c[0].selectbox("Revoke", choices, key="api_token_revoke_choice", label_visibility="collapsed")
    if c[1].button("Revoke", key="api_token_revoke", disabled=not choices):
        target = chosen[len(_ALL_OF):] if chosen.startswith(_ALL_OF) else chosen.split(" — ")[0]
        try:
            n = api_tokens.revoke(client, identity(), target)
        except ConsoleError as exc:
            st.error(plain(str(exc)))
        else:
            st.success(plain(f"Revoked {n} token(s) ({target})."))
            st.rerun()


def tokens_panel() -> None:
    """The API tokens section (admins only; nothing for other roles)."""
    if not can("api_token_add"):
        return
    client = redis_client()
    st.subheader("API tokens")
    st.caption("A token acts as its person, with at most their current role (`Authorization: Bearer …`). "
               "The same as `python -m app tokens add|list|revoke`.")
    names = sorted(a.name for a in accounts.list_accounts(client))
    if names:
        _add_form(client, names)
    else:
        st.caption("No accounts yet: a token belongs to a person with an account.")
    tokens = api_tokens.list_tokens(client)
    if not tokens:
        st.caption("No live tokens.")
        return
    st.dataframe(pd.DataFrame([{"token id": t.id, "person": t.owner, "role": t.role,
                                "added (UTC)": when(t.created_at), "expires (UTC)": when(t.expires_at) if t.expires_at
                                else "never", "added by": t.created_by} for t in tokens]),
                 hide_index=True, width="stretch")
    _revoke(client, tokens)
