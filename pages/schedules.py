"""Schedules: beat's entries kept in Redis by RedBeat — list, create, edit, enable/disable, delete,
run now, with the next five runs previewed in TIMEZONE before saving."""
import streamlit as st

from app import schedules
from app.errors import InvalidInput
from app.store.clients import STORE_DOWN
from app.ui import flash, schedule_entries
from app.ui import schedule_form as form
from app.ui.access import can
from app.ui.navigation import via_entry_script
from app.ui.resources import celery, redis_down_banner, redis_ok_or_banner, settings

via_entry_script()

st.title("Schedules")
if not redis_ok_or_banner():
    st.stop()
app, tz = celery(), settings().TIMEZONE
st.session_state.setdefault("sch_editing", None)
flash.show(schedule_entries.FLASH)

try:
    entries = schedules.list_entries(app)
except STORE_DOWN as exc:
    redis_down_banner(exc)
    st.stop()
st.caption(f"Times in {tz}. Beat reloads entries from Redis on every tick, so changes apply without a restart.")
schedule_entries.health_table(app, entries, tz)
if entries:
    schedule_entries.entry_actions(app, entries)

if not can("schedule_create"):
    st.stop()
editing = st.session_state["sch_editing"]
st.subheader(f"Edit {editing}" if editing else "New entry")
raw = form.entry_form(schedules.registered_tasks(app), schedules.queue_names(app))
spec = form.spec_from_inputs(raw)
try:
    form.preview(spec, tz)
except InvalidInput as exc:
    st.error(str(exc))

save, cancel = st.columns([1, 5])
if save.button("Save", type="primary", key="sch_save"):
    schedule_entries.save(app, raw, spec, editing)
if editing and cancel.button("Cancel edit", key="sch_cancel"):
    form.clear_form()
    st.rerun()
