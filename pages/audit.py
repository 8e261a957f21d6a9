"""Users & audit: live sessions (an admin can end anyone's), HTTP API tokens (admins: add, list, revoke),
then every state-changing act, sign-in and refusal, filterable, exportable as CSV or JSON."""
import streamlit as st

from app.store.clients import STORE_DOWN
from app.ui.api_tokens_view import tokens_panel
from app.ui.audit_view import audit_panel
from app.ui.navigation import via_entry_script
from app.ui.resources import redis_ok_or_banner, settings
from app.ui.sessions_view import sessions_panel

via_entry_script()

st.title("Users & audit")
if not redis_ok_or_banner():
    st.stop()
try:
    sessions_panel()
    tokens_panel()
    st.subheader("Audit log")
    st.caption(f"Append-only log (Redis stream), the newest {settings().AUDIT_MAX_ENTRIES:,} entries kept. "
               f"Who, role, client address, sign-in method, action, target and outcome of every act.")
    audit_panel("audit_page")
except STORE_DOWN as exc:
    st.error(f"Redis stopped answering: {exc}", icon=":material/error:")
