"""Schedules page widgets: the entry form (create / edit), its run preview and the entries table.

Form widgets keep their values in session state under ``sch_*`` keys, so "Edit" fills the form by
writing those keys (`load_into_form`) and "Save" clears them (`clear_form`).
"""
from __future__ import annotations

from types import MappingProxyType
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from app.schedules import schedule_spec
from app.schedules import EntryInfo

UNITS_S = MappingProxyType({"seconds": 1, "minutes": 60, "hours": 3_600, "days": 86_400})
ROUTE_BY_TASK = "(route by task)"
CRON_KEYS = MappingProxyType({"minute": "sch_minute", "hour": "sch_hour", "day_of_month": "sch_dom",
             "month_of_year": "sch_month", "day_of_week": "sch_dow"})
DEFAULTS: dict[str, Any] = MappingProxyType({"sch_name": "", "sch_type": "Interval", "sch_every": 5, "sch_unit": "minutes",
                            "sch_minute": "0", "sch_hour": "*", "sch_dom": "*", "sch_month": "*",
                            "sch_dow": "*", "sch_args": "", "sch_kwargs": "", "sch_queue": ROUTE_BY_TASK,
                            "sch_enabled": True})


def clear_form() -> None:
    """Put the form back to a new, empty entry on the next run (widgets already drawn in this run
    cannot be changed)."""
    st.session_state["sch_reset"] = True
    st.session_state["sch_editing"] = None


def _reset() -> None:
    for key, value in DEFAULTS.items():
        st.session_state[key] = value
    st.session_state.pop("sch_task", None)
    st.session_state["sch_editing"] = None


def load_into_form(entry: EntryInfo) -> None:
    """Fill the form with `entry` and switch it to edit mode."""
    import json

    s = st.session_state
    s["sch_editing"] = entry.name
    s["sch_name"] = entry.name
    s["sch_task"] = entry.task
    spec = entry.schedule
    if spec["type"] == "interval":
        every_s = float(spec["every_s"])
        unit = next(u for u in ("days", "hours", "minutes", "seconds") if every_s % UNITS_S[u] == 0
                    or u == "seconds")
        s["sch_type"], s["sch_every"], s["sch_unit"] = "Interval", int(every_s // UNITS_S[unit]), unit
    else:
        s["sch_type"] = "Crontab"
        for field, key in CRON_KEYS.items():
            s[key] = str(spec.get(field, "*"))
    s["sch_args"] = json.dumps(entry.args) if entry.args else ""
    s["sch_kwargs"] = json.dumps(entry.kwargs) if entry.kwargs else ""
    s["sch_queue"] = entry.queue or ROUTE_BY_TASK
    s["sch_enabled"] = entry.enabled


def entry_form(tasks: list[str], queues: list[str]) -> dict[str, Any]:
    """Render the form; returns its raw values (not validated)."""
    if st.session_state.pop("sch_reset", False):
        _reset()
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    editing = st.session_state.get("sch_editing")
    if st.session_state.get("sch_task") not in tasks:
        st.session_state.pop("sch_task", None)
    left, right = st.columns(2)
    left.text_input("Name", key="sch_name", disabled=bool(editing), max_chars=80,
                    help="Letters, digits, spaces, '_', '.' or '-'.")
    right.selectbox("Task", tasks, key="sch_task", help="Tasks registered on the Celery app.")
    kind = st.radio("Schedule", ["Interval", "Crontab"], key="sch_type", horizontal=True)
    if kind == "Interval":
        a, b = st.columns(2)
        a.number_input("Every", min_value=1, step=1, key="sch_every")
        b.selectbox("Unit", list(UNITS_S), key="sch_unit")
    else:
        cols = st.columns(5)
        for col, (field, key) in zip(cols, CRON_KEYS.items()):
            col.text_input(schedule_spec.CRON_LABELS[field].capitalize(), key=key)
        st.caption("Celery crontab: numbers, '*', ranges '1-5', steps '*/15', lists '0,30'; day of "
                   "week 0-6 (Sunday = 0) or mon-sun. Day of month and day of week must both match.")
    a, b = st.columns(2)
    a.text_area("Arguments (JSON list)", key="sch_args", placeholder='["weekly"]', height=68)
    b.text_area("Keyword arguments (JSON object)", key="sch_kwargs", placeholder='{"days": 7}', height=68)
    a, b = st.columns(2)
    a.selectbox("Queue", [ROUTE_BY_TASK, *queues], key="sch_queue")
    b.checkbox("Enabled", key="sch_enabled")
    return {k: st.session_state.get(k) for k in (*DEFAULTS, "sch_task")}


def spec_from_inputs(raw: dict[str, Any]) -> dict[str, Any]:
    """The schedule dict (`app.schedules.schedule_spec` shape) the form describes."""
    if raw["sch_type"] == "Interval":
        return {"type": "interval", "every_s": int(raw["sch_every"] or 0) * UNITS_S[raw["sch_unit"]]}
    return {"type": "crontab", **{field: raw[key] for field, key in CRON_KEYS.items()}}


def preview(spec: dict[str, Any], tz: str) -> None:
    """Show the schedule in words and its next five runs in `tz` (raises InvalidInput)."""
    runs = schedule_spec.preview_next_runs(spec, 5, tz)
    line = schedule_spec.crontab_line(spec)
    st.markdown(f"**{schedule_spec.describe(spec)}**" + (f" · `{line}`" if line else ""))
    st.dataframe(pd.DataFrame({f"next runs ({tz})": [_fmt(t) for t in runs]}), hide_index=True)


def entries_table(entries: list[EntryInfo], tz: str, health: dict | None = None) -> pd.DataFrame:
    """One row per entry, times shown in `tz`; with `health` (`app.monitor.schedule_health.check`),
    the last run's result and the entry's status (missed / late / failing / ok …)."""
    z = schedule_spec.zone(tz)
    health = health or {}
    rows = [{"name": e.name, "status": getattr(health.get(e.name), "status", ""),
             "task": e.task, "schedule": e.description, "crontab": e.crontab or "—",
             "args": _args(e), "queue": e.queue or "(route)", "enabled": e.enabled,
             "last run": _last_run(e, health.get(e.name), z),
             "result": getattr(health.get(e.name), "last_state", None) or "—",
             "next run": _fmt(e.next_run_at.astimezone(z)) if e.next_run_at else "—",
             "runs": e.total_run_count, "detail": getattr(health.get(e.name), "detail", "")} for e in entries]
    return pd.DataFrame(rows, columns=["name", "status", "task", "schedule", "crontab", "args", "queue",
                                       "enabled", "last run", "result", "next run", "runs", "detail"])


def _last_run(e: EntryInfo, h, z) -> str:
    """The newer of beat's last run of the entry and the last send recorded for it ("Run now" too)."""
    times = [t for t in (e.last_run_at, _utc_from_epoch(getattr(h, "last_sent_at", None))) if t]
    return _fmt(max(times).astimezone(z)) if times else "never"


def _utc_from_epoch(ts: float | None) -> datetime | None:
    from datetime import timezone

    return datetime.fromtimestamp(ts, timezone.utc) if ts else None


def _args(e: EntryInfo) -> str:
    import json

    parts = [json.dumps(e.args)] if e.args else []
    if e.kwargs:
        parts.append(json.dumps(e.kwargs))
    return " ".join(parts) or "—"


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S %Z")
