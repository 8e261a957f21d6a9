"""Workflows: compose a chain, group or chord of the console's own tasks, preview it, send it and
follow it live in the workflow graph; save it to run again or put it on a schedule."""
import streamlit as st

from app.ui import confirm, workflow_forms as forms, workflow_runs
from app.ui.access import can, read_only_note
from app.ui.resources import redis_ok_or_banner
from app.ui.navigation import via_entry_script

via_entry_script()

st.title("Workflows")
st.caption("Steps are the console's own tasks. In a chain each step takes what fits from the previous "
           "result (a document's text file → an AI summary → an e-mail's body); a group runs its steps "
           "in parallel; a chord runs a group, then a callback with every result.")
if not redis_ok_or_banner():
    st.stop()
st.session_state.setdefault(forms.RUNS, [])
confirm.pending_box()

compose, saved_tab = st.tabs(["Compose", "Saved workflows"])
with compose:
    if not can("submit"):
        read_only_note()
    else:
        wf = forms.compose()
        if wf is not None:
            st.subheader("Preview")
            forms.show_preview(wf)
            send, save, _ = st.columns([1, 1, 4])
            if send.button("Send", type="primary", key="wf_send"):
                forms.send(wf)
            if can("workflow_save") and save.button("Save", key="wf_save"):
                forms.save(wf)
with saved_tab:
    forms.saved_view()

if st.session_state[forms.RUNS]:
    st.subheader("Running")
    workflow_runs.runs_view(st.session_state[forms.RUNS])
