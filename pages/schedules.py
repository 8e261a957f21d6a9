"""Schedules: beat's entries kept in Redis by RedBeat — list, create, edit, enable/disable, delete,
run now, with the next five runs previewed in TIMEZONE before saving."""
import redis
import streamlit as st

from app.errors import ConsoleError, InvalidInput
from app.schedules import schedule_spec
from app import schedules
from app.ui import access, flash
from app.ui import schedule_form as form
from app.monitor import schedule_health
from app.ui.access import can
from app.ui.resources import celery, redis_client, redis_down_banner, redis_ok_or_banner, settings
from app.ui.navigation import via_entry_script

via_entry_script()

st.title("Schedules")
if not redis_ok_or_banner():
    st.stop()
app, tz = celery(), settings().TIMEZONE
st.session_state.setdefault("sch_editing", None)
flash.show("sch_flash")

try:
    entries = schedules.list_entries(app)
except (redis.RedisError, OSError) as exc:
    redis_down_banner(exc)
    st.stop()
st.caption(f"Times in {tz}. Beat reloads entries from Redis on every tick, so changes apply without "
           f"a restart.")
health = schedule_health.check(app, redis_client(), settings().SCHEDULE_GRACE_S, entries=entries)
bad = [h for h in health.values() if h.status in ("missed", "late", "failing")]
for h in bad:
    st.warning(f"**{h.name}**: {h.status} — {h.detail}", icon=":material/schedule:")
st.dataframe(form.entries_table(entries, tz, health), hide_index=True, width="stretch")
st.caption(f"Status: missed = a run due more than {settings().SCHEDULE_GRACE_S:g} s ago (SCHEDULE_GRACE_S) has "
           f"not started; late = the last run started after that; failing = the last run failed.")


if entries:
    pick = st.selectbox("Entry", [e.name for e in entries], key="sch_pick")
    current = next(e for e in entries if e.name == pick)
    cols = st.columns([1, 1, 1, 1, 2], vertical_alignment="center")
    admin = can("schedule_edit")
    if admin and cols[0].button("Disable" if current.enabled else "Enable", key="sch_toggle", width="stretch"):
        flash.act("sch_flash", f"{pick} {'disabled' if current.enabled else 'enabled'}.", schedules.set_enabled, app,
                  pick, not current.enabled, action="schedule_disable" if current.enabled else "schedule_enable",
                  target=pick)
    if can("schedule_run_now") and cols[1].button("Run now", key="sch_run", width="stretch"):
        flash.act("sch_flash", f"{pick} sent now: task {{result}}", schedules.run_now, app, pick,
                  action="schedule_run_now", target=pick)
    if admin and cols[2].button("Edit", key="sch_edit", width="stretch"):
        form.load_into_form(current)
        st.rerun()
    sure = admin and cols[4].checkbox("Confirm delete", key="sch_confirm_delete", help="Tick to enable Delete.")
    if admin and cols[3].button("Delete", key="sch_delete", disabled=not sure, width="stretch"):
        st.session_state.pop("sch_confirm_delete", None)
        flash.act("sch_flash", f"{pick} deleted.", schedules.delete_entry, app, pick, action="schedule_delete",
                  target=pick)

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
    try:
        if not editing and schedules.get_entry(app, raw["sch_name"].strip()):
            raise InvalidInput(f"An entry named {raw['sch_name'].strip()!r} exists: pick it above and "
                               f"press Edit.")
        args = schedule_spec.parse_json_args(raw["sch_args"])
        kwargs = schedule_spec.parse_json_kwargs(raw["sch_kwargs"])
        queue = None if raw["sch_queue"] == form.ROUTE_BY_TASK else raw["sch_queue"]
        saved = access.run("schedule_edit" if editing else "schedule_create", raw["sch_name"].strip(),
                           lambda: schedules.save_entry(app, raw["sch_name"], raw["sch_task"] or "", spec, args,
                                                        kwargs, queue, raw["sch_enabled"]))
    except ConsoleError as exc:
        st.error(str(exc))
    except (redis.RedisError, OSError) as exc:
        redis_down_banner(exc)
    else:
        form.clear_form()
        st.session_state["sch_flash"] = f"{saved.name} saved: {saved.description}."
        st.rerun()
if editing and cancel.button("Cancel edit", key="sch_cancel"):
    form.clear_form()
    st.rerun()
