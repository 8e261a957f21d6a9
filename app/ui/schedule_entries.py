"""Schedules page: the entries with their health, the actions on the picked entry, and Save.

After a save the picker moves to the saved entry (`PICK_NEXT`, applied before the picker is drawn:
a widget's value cannot change once it is on the page in the same run).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from app import schedules
from app.errors import ConsoleError, InvalidInput
from app.monitor import schedule_health
from app.schedules import EntryInfo, schedule_spec
from app.store.clients import STORE_DOWN
from app.ui import access, flash
from app.ui import schedule_form as form
from app.ui.access import can
from app.ui.resources import redis_client, redis_down_banner, settings

FLASH = "sch_flash"
PICK = "sch_pick"
PICK_NEXT = "sch_pick_next"


def health_table(app, entries: list[EntryInfo], tz: str) -> None:
    """A warning per entry that missed, ran late or fails; the entries table; what the statuses mean."""
    grace_s = settings().SCHEDULE_GRACE_S
    health = schedule_health.check(app, redis_client(), grace_s, entries=entries)
    for h in health.values():
        if h.status in ("missed", "late", "failing"):
            st.warning(f"**{h.name}**: {h.status} — {h.detail}", icon=":material/schedule:")
    st.dataframe(form.entries_table(entries, tz, health), hide_index=True, width="stretch")
    st.caption(f"Status: missed = a run due more than {grace_s:g} s ago (SCHEDULE_GRACE_S) has not started; "
               f"late = the last run started after that; failing = the last run failed.")


def entry_actions(app, entries: list[EntryInfo]) -> None:
    """The entry picker and its buttons: enable/disable, run now, edit, delete (each checked and audited)."""
    names = [e.name for e in entries]
    if (wanted := st.session_state.pop(PICK_NEXT, None)) in names:
        st.session_state[PICK] = wanted
    pick = st.selectbox("Entry", names, key=PICK)
    current = next(e for e in entries if e.name == pick)
    cols = st.columns([1, 1, 1, 1, 2], vertical_alignment="center")
    admin = can("schedule_edit")
    if admin and cols[0].button("Disable" if current.enabled else "Enable", key="sch_toggle", width="stretch"):
        flash.act(FLASH, f"{pick} {'disabled' if current.enabled else 'enabled'}.", schedules.set_enabled, app,
                  pick, not current.enabled, action="schedule_disable" if current.enabled else "schedule_enable",
                  target=pick)
    if can("schedule_run_now") and cols[1].button("Run now", key="sch_run", width="stretch"):
        flash.act(FLASH, f"{pick} sent now: task {{result}}", schedules.run_now, app, pick,
                  action="schedule_run_now", target=pick)
    if admin and cols[2].button("Edit", key="sch_edit", width="stretch"):
        form.load_into_form(current)
        st.rerun()
    sure = admin and cols[4].checkbox("Confirm delete", key="sch_confirm_delete", help="Tick to enable Delete.")
    if admin and cols[3].button("Delete", key="sch_delete", disabled=not sure, width="stretch"):
        st.session_state.pop("sch_confirm_delete", None)
        flash.act(FLASH, f"{pick} deleted.", schedules.delete_entry, app, pick, action="schedule_delete",
                  target=pick)


def save(app, raw: dict[str, Any], spec: dict[str, Any], editing: str | None) -> None:
    """Create or update the entry from the form's values (`raw`, `spec`); on success clear the form,
    pick the saved entry and rerun; otherwise say what is wrong."""
    name = raw["sch_name"].strip()
    try:
        if not editing and schedules.get_entry(app, name):
            raise InvalidInput(f"An entry named {name!r} exists: pick it above and press Edit.")
        args = schedule_spec.parse_json_args(raw["sch_args"])
        kwargs = schedule_spec.parse_json_kwargs(raw["sch_kwargs"])
        queue = None if raw["sch_queue"] == form.ROUTE_BY_TASK else raw["sch_queue"]
        saved = access.run("schedule_edit" if editing else "schedule_create", name,
                           lambda: schedules.save_entry(app, raw["sch_name"], raw["sch_task"] or "", spec, args,
                                                        kwargs, queue, raw["sch_enabled"]))
    except ConsoleError as exc:
        st.error(str(exc))
    except STORE_DOWN as exc:
        redis_down_banner(exc)
    else:
        form.clear_form()
        st.session_state[FLASH] = f"{saved.name} saved: {saved.description}."
        st.session_state[PICK_NEXT] = saved.name
        st.rerun()
