"""Widgets of the Alerts page: rules table, rule form (params per kind), history table, banner."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app.alerts import engine, rules
from app.alerts.rules import KINDS, Rule
from app.ui.monitor_widgets import ago, when

FORM = "al_form"
SEVERITY_ICON = {"critical": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def rules_table(all_rules: list[Rule], states: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for r in all_rules:
        st_ = states.get(r.id, {})
        status = "disabled" if not r.enabled else ("FIRING" if st_.get("firing") else ("error" if st_.get("error") else "ok"))
        rows.append({"name": r.name, "status": status, "severity": r.severity, "rule": r.describe(),
                     "cool-down (s)": int(r.cooldown_s), "channels": ", ".join(r.channels),
                     "last checked": ago(st_.get("checked_at")), "error": st_.get("error") or "", "id": r.id})
    return pd.DataFrame(rows, columns=["name", "status", "severity", "rule", "cool-down (s)", "channels",
                                       "last checked", "error", "id"])


def history_table(items: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"at": when(e.get("at")), "status": e.get("status"), "severity": e.get("severity"),
                          "rule": e.get("rule_name"), "message": (e.get("message") or "")[:300],
                          "email": e.get("email", ""), "webhook": e.get("webhook", ""),
                          "note": e.get("note", ""), "id": e.get("id")} for e in items],
                        columns=["at", "status", "severity", "rule", "message", "email", "webhook", "note", "id"])


def rule_form(editing: Rule | None, queue_names: list[str], task_names: list[str]) -> Rule:
    """Inputs for one rule (the kind's parameters with their defaults); returns the unvalidated rule."""
    base = editing or Rule(name="", kind="failure_rate")
    kinds = list(KINDS)
    kind = st.selectbox("Kind", kinds, index=kinds.index(base.kind), format_func=lambda k: KINDS[k][0],
                        key=f"{FORM}_kind", disabled=editing is not None)
    c1, c2, c3 = st.columns([3, 1, 1])
    name = c1.text_input("Name", value=base.name, key=f"{FORM}_name")
    severity = c2.selectbox("Severity", rules.SEVERITIES, index=rules.SEVERITIES.index(base.severity),
                            key=f"{FORM}_sev")
    cooldown = c3.number_input("Cool-down (s)", min_value=0, max_value=7 * 86_400, value=int(base.cooldown_s),
                               key=f"{FORM}_cool")
    params = {}
    specs = KINDS[kind][1]
    cols = st.columns(max(1, len(specs)))
    for col, (pname, (typ, default, lo, hi)) in zip(cols, specs.items()):
        current = (base.params or {}).get(pname, default) if base.kind == kind else default
        key = f"{FORM}_{kind}_{pname}"
        if typ is bool:
            params[pname] = col.checkbox(pname, value=bool(current), key=key)
        elif typ is str:
            params[pname] = col.text_input(pname, value=str(current), key=key,
                                           help=_hint(pname, queue_names, task_names))
        else:
            params[pname] = col.number_input(pname, value=typ(current), key=key,
                                             min_value=typ(lo) if lo is not None else None,
                                             max_value=typ(hi) if hi is not None else None)
    recovery = st.text_input("Recovery message", value=base.recovery_message, key=f"{FORM}_rec")
    c4, c5 = st.columns([3, 1])
    channels = c4.multiselect("Channels", rules.CHANNELS, default=base.channels, key=f"{FORM}_ch")
    enabled = c5.checkbox("Enabled", value=base.enabled, key=f"{FORM}_en")
    return Rule(name=name, kind=kind, params=params, severity=severity, cooldown_s=float(cooldown),
                recovery_message=recovery, channels=list(channels), enabled=enabled,
                id=editing.id if editing else "", builtin=editing.builtin if editing else False)


def _hint(pname: str, queue_names, task_names) -> str | None:
    if pname == "queue":
        return "A queue name or a pattern ('*' = each queue): " + ", ".join(queue_names)
    if pname in ("task", "target"):
        return "A task name / queue, or a pattern ('*' = each one seen). Known tasks: " + ", ".join(task_names[:15])
    if pname == "entry":
        return "A schedule entry name or a pattern ('*' = every entry)"
    if pname == "worker":
        return "A worker node name or a pattern ('*' = every worker)"
    return None


def evaluation_banner() -> None:
    """A sidebar warning on every page while alert evaluation is late (`engine.lateness`); silent
    when it keeps up or on error."""
    from app.ui.resources import redis_client, settings

    try:
        late = engine.lateness(redis_client(), settings().ALERT_EVAL_INTERVAL_S)
    except Exception:  # noqa: BLE001 - the banner must never break the page under it
        return
    if late:
        st.sidebar.warning(late, icon=":material/notifications_off:")


def firing_banner(client) -> None:
    """A banner per firing rule (Task Monitor, Alerts page); silent when nothing fires or on error."""
    try:
        active = engine.firing(client)
    except Exception:  # noqa: BLE001 - the banner must never break the page under it
        return
    for f in active:
        subjects = ", ".join(list(f["subjects"])[:5]) + (" …" if len(f["subjects"]) > 5 else "")
        text = f"**Alert firing: {f['name']}** ({f['severity']}, since {ago(f['since'], time.time())}) — {subjects}"
        (st.error if f["severity"] == "critical" else st.warning if f["severity"] == "warning" else st.info)(
            text, icon=SEVERITY_ICON.get(f["severity"], ":material/notifications:"))
