"""Audit: every state-changing act, sign-in and refusal, filterable, exportable as CSV or JSON."""
import streamlit as st

from app.ui.audit_view import audit_panel
from app.ui.navigation import via_entry_script
from app.ui.resources import redis_ok_or_banner, settings
from app.store.clients import STORE_DOWN

via_entry_script()

st.title("Audit")
st.caption(f"Append-only log (Redis stream), the newest {settings().AUDIT_MAX_ENTRIES:,} entries kept. "
           f"Who, role, client address, sign-in method, action, target and outcome of every act.")
if not redis_ok_or_banner():
    st.stop()
try:
    audit_panel("audit_page")
except STORE_DOWN as exc:
    st.error(f"Redis stopped answering: {exc}", icon=":material/error:")
