"""Optional password gate: when CONSOLE_PASSWORD is set, every page asks for it once per session."""
from __future__ import annotations

import hmac

import streamlit as st

from config.settings import get_settings


def require_login() -> None:
    """Stop the script with a login form until the right password is given (no-op if unset)."""
    secret = get_settings().CONSOLE_PASSWORD
    if secret is None or st.session_state.get("authenticated"):
        return
    with st.form("login"):
        password = st.text_input("Console password", type="password")
        if st.form_submit_button("Sign in"):
            if hmac.compare_digest(password.encode(), secret.get_secret_value().encode()):
                st.session_state["authenticated"] = True
                st.rerun()
            st.error("Wrong password.")
    st.stop()
