"""Recurring reports on the Reports page: the report beat entries with pause/resume/delete, and a
small form that schedules the report just configured."""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pandas as pd
import streamlit as st

from app.store.clients import STORE_DOWN
from app.errors import InvalidInput
from app.files import filestore, storage
from app import schedules
from app.reports import recurring
from app.ui.flash import act
from app.ui.resources import redis_down_banner
from config.settings import get_settings

EVERY = MappingProxyType({"hour": 3_600, "6 hours": 6 * 3_600, "day": 86_400, "week": 7 * 86_400})


def _resolve(path: str):
    if filestore.is_url(path):  # FILE_STORE=s3: the object must exist in the configured bucket
        if not filestore.current().exists(path):
            raise InvalidInput("The stored file is missing in the file store. Upload it again.")
        return path
    return storage.existing_file(get_settings().DATA_DIR, path)


def _act(action: str, target: str, fn, *args, flash: str) -> None:
    """Run one service call as `action` on `target` (checked, audited); flash on success."""
    act("rep_flash", flash.replace("{", "{{").replace("}", "}}"), fn, *args, action=action, target=target)


def schedule_form(app, report_task: str | None, kwargs: dict[str, Any] | None) -> None:
    """Save the configured report (`report_task` + `kwargs`) as a recurring beat entry."""
    if not report_task:
        st.caption("Configure a report above to schedule it.")
        return
    with st.form("rep_schedule"):
        cols = st.columns([2, 1, 1])
        name = cols[0].text_input("Schedule name", key="rep_sched_name", placeholder="weekly sales")
        every = cols[1].selectbox("Every", list(EVERY), index=2, key="rep_sched_every")
        at_hour = cols[2].number_input("At hour (daily/weekly)", 0, 23, 7, key="rep_sched_hour")
        if st.form_submit_button("Schedule this report"):
            if EVERY[every] >= 86_400:
                spec = {"type": "crontab", "minute": "0", "hour": str(at_hour),
                        "day_of_week": "1" if every == "week" else "*"}
            else:
                spec = {"type": "interval", "every_s": EVERY[every]}
            _act("schedule_create", name.strip(), recurring.schedule_report, app, name, report_task, spec,
                 kwargs or {}, _resolve,
                 flash=f"Recurring report {name.strip()!r} scheduled.")


def entries_panel(app) -> None:
    """The report entries with pause/resume and delete."""
    try:
        entries = recurring.report_entries(app)
    except STORE_DOWN as exc:
        redis_down_banner(exc)
        return
    if not entries:
        st.caption("No recurring reports yet.")
        return
    st.dataframe(pd.DataFrame([{
        "name": e.name, "report": e.task.rsplit(".", 1)[-1], "schedule": e.description,
        "enabled": e.enabled, "next run (UTC)": e.next_run_at.strftime("%Y-%m-%d %H:%M") if e.next_run_at else "",
        "runs": e.total_run_count} for e in entries]), hide_index=True, width="stretch")
    cols = st.columns([3, 1, 1])
    pick = cols[0].selectbox("Recurring report", [e.name for e in entries], key="rep_sched_pick")
    current = next(e for e in entries if e.name == pick)
    from app.ui.access import can

    if not can("schedule_edit"):
        return
    if cols[1].button("Pause" if current.enabled else "Resume", key="rep_sched_toggle"):
        _act("schedule_disable" if current.enabled else "schedule_enable", pick, schedules.set_enabled, app, pick,
             not current.enabled, flash=f"{pick} {'paused' if current.enabled else 'resumed'}.")
    if cols[2].button("Delete", key="rep_sched_delete"):
        _act("schedule_delete", pick, schedules.delete_entry, app, pick, flash=f"{pick} deleted.")
