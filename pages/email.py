"""Email: single, bulk, notification and scheduled sends on email_queue; the dev sink's Outbox."""
import streamlit as st

from app.ui import email_forms, email_outbox
from app.ui.access import can, read_only_note
from app.ui.email_results import render_result, scheduled_line
from app.ui.resources import redis_ok_or_banner
from app.ui.task_status import task_panel
from app.ui.navigation import via_entry_script

via_entry_script()

st.session_state.setdefault(email_forms.JOBS, [])
st.title("Email")
st.caption(email_forms.transport_caption())
if not redis_ok_or_banner():
    st.stop()

single, bulk, notification, scheduled, outbox = st.tabs(["Single", "Bulk", "Notification", "Scheduled", "Outbox"])
for tab, form in ((single, email_forms.single_form), (bulk, email_forms.bulk_form),
                  (notification, email_forms.notification_form), (scheduled, email_forms.scheduled_form)):
    with tab:
        if can("submit"):
            form()
        else:
            read_only_note()
with outbox:
    email_outbox.outbox_view()

if st.session_state[email_forms.JOBS]:
    st.subheader("Submitted")
for job in st.session_state[email_forms.JOBS]:
    with st.container(border=True):
        if job.get("send_at"):
            scheduled_line(job)
        task_panel(job["id"], job["title"], render_result)
