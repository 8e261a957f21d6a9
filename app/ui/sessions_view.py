"""Who is signed in: a person's live sessions, and an admin's "End sessions" for anyone."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.access import accounts, sessions
from app.errors import ConsoleError
from app.ui.access import can
from app.ui.auth import identity
from app.ui.monitor_widgets import when
from app.ui.resources import redis_client
from app.ui.text import plain


def _table(rows: list[dict]) -> None:
    if not rows:
        st.caption("No live sessions.")
        return
    st.dataframe(pd.DataFrame([{"signed in (UTC)": when(r["signed_in_at"]), "from": r["client"],
                                "method": r["auth"], "ends in (min)": r["expires_in_s"] // 60,
                                "session": r["sha"][:12]} for r in rows]), hide_index=True, width="stretch")


def sessions_panel() -> None:
    """Your own sessions; for an admin, any person's sessions with "End sessions" (audited)."""
    me = identity()
    if me is None or me.auth_method not in ("accounts", "password"):
        return
    client = redis_client()
    st.subheader("Your sessions")
    _table(sessions.list_for(client, me.name))
    st.caption("“Sign out everywhere” in the sidebar ends all of them, in every tab and browser.")
    if not can("user_sessions_end"):
        return
    st.subheader("Sessions of a person")
    names = [a.name for a in accounts.list_accounts(client)]
    if me.name not in names:
        names.append(me.name)
    name = st.selectbox("Person", sorted(names), key="sessions_person")
    rows = sessions.list_for(client, name)
    _table(rows)
    if st.button(f"End sessions of {name}", key="sessions_end", disabled=not rows, type="primary"):
        try:
            n = sessions.end_sessions_of(client, me, name)
        except ConsoleError as exc:
            st.error(plain(str(exc)))
        else:
            st.success(plain(f"Ended {n} session(s) of {name}."))
