"""Widgets of the Alerts page: rules table, rule form (params per kind), history table, banner."""
from __future__ import annotations

from types import MappingProxyType
import time

import pandas as pd
import streamlit as st

from app.alerts import engine, rules
from app.alerts.rules import KINDS, Rule
from app.ui.monitor_widgets import ago, when

FORM = "al_form"
SEVERITY_ICON = MappingProxyType({"critical": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"})


def rules_table(all_rules: list[Rule], states: dict[str, dict], apps: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per rule; `apps` maps a rule id to the apps it watches ("all" when absent)."""
    rows = []
    for r in all_rules:
        st_ = states.get(r.id, {})
        status = "disabled" if not r.enabled else ("FIRING" if st_.get("firing") else ("error" if st_.get("error") else "ok"))
        rows.append({"name": r.name, "status": status, "severity": r.severity, "rule": r.describe(),
                     "apps": (apps or {}).get(r.id, "all"),
                     "cool-down (s)": int(r.cooldown_s), "channels": ", ".join(r.channels),
                     "last checked": ago(st_.get("checked_at")), "error": st_.get("error") or "", "id": r.id})
    return pd.DataFrame(rows, columns=["name", "status", "severity", "rule", "apps", "cool-down (s)", "channels",
                                       "last checked", "error", "id"])


def app_scope(client, chosen: str | None, all_rules: list[Rule], items: list[dict]):
    """For the app selector's choice `chosen` (None: all apps): (the rules that watch it, the alert
    events that concern it, {rule id: the apps it watches, "all" for every app}) — see
    `app.alerts.scope`.

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    from app.alerts import scope
    from app.monitor import workers
    from app.ui import app_selector

    names = app_selector.monitored_apps().names
    needs_workers = any(r.kind == "worker_offline" for r in all_rules) or any(e.get("kind") == "worker_offline" for e in items)
    worker_apps = {w.hostname: w.app for w in workers.list_workers(client)} if needs_workers else {}
    labels = {}
    for r in all_rules:
        apps = scope.rule_apps(r, names, worker_apps)
        labels[r.id] = "all" if apps is None else ", ".join(sorted(apps)) or "none monitored"
    return ([r for r in all_rules if scope.rule_concerns(r, chosen, names, worker_apps)],
            scope.events_of(items, all_rules, chosen, names, worker_apps), labels)


def history_table(items: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"at": when(e.get("at")), "status": e.get("status"), "severity": e.get("severity"),
                          "rule": e.get("rule_name"), "message": (e.get("message") or "")[:300],
                          "email": e.get("email", ""), "webhook": e.get("webhook", ""),
                          "note": e.get("note", ""), "id": e.get("id")} for e in items],
                        columns=["at", "status", "severity", "rule", "message", "email", "webhook", "note", "id"])


#: The operator's words for each rule parameter (the stored names are in `app.alerts.rules.KINDS`).
PARAM_LABELS = MappingProxyType({
    "scope": "Applies to", "target": "Task or queue", "threshold_pct": "Failed runs over (%)",
    "min_runs": "Out of at least (runs)", "window_s": "Within the last (s)", "queue": "Queue",
    "threshold": "Waiting messages over", "for_s": "For at least (s)", "threshold_s": "Over (s)",
    "worker": "Worker", "include_signed_off": "Also workers that signed off", "task": "Task",
    "entry": "Schedule entry", "grace_s": "Grace (s)", "include_late": "Also runs that started late",
    "include_failing": "Also runs that failed", "fraction": "Share of Redis maxmemory (0-1)",
})
SCOPES = MappingProxyType({"task": "a task name", "queue": "a queue"})
CHANNEL_LABELS = MappingProxyType({"email": "E-mail (ALERT_EMAIL_TO)", "webhook": "Webhook (ALERT_WEBHOOK_URL)"})
EACH = "*"


def rule_form(editing: Rule | None, queue_names: list[str], task_names: list[str],
              configured: list[str]) -> Rule:
    """Inputs for one rule (the kind's parameters with their defaults, closed sets as choices); a
    new rule's channels default to the `configured` ones. Returns the unvalidated rule."""
    base = editing or Rule(name="", kind="failure_rate", channels=list(configured))
    kinds = list(KINDS)
    kind = st.selectbox("Kind", kinds, index=kinds.index(base.kind), format_func=lambda k: KINDS[k][0],
                        key=f"{FORM}_kind", disabled=editing is not None)
    c1, c2, c3 = st.columns([3, 1, 1])
    name = c1.text_input("Name", value=base.name, key=f"{FORM}_name", placeholder="e.g. E-mail queue backing up")
    severity = c2.selectbox("Severity", rules.SEVERITIES, index=rules.SEVERITIES.index(base.severity),
                            key=f"{FORM}_sev", format_func=str.capitalize)
    cooldown = c3.number_input("Quiet after alerting (s)", min_value=0, max_value=7 * 86_400,
                               value=int(base.cooldown_s), key=f"{FORM}_cool",
                               help="No second notification of this rule within this time")
    specs = KINDS[kind][1]
    current = {p: (base.params or {}).get(p, d[1]) if base.kind == kind else d[1] for p, d in specs.items()}
    params: dict = {}
    cols = st.columns(max(1, len(specs)))
    for col, (pname, (typ, _default, lo, hi)) in zip(cols, specs.items()):
        key, label = f"{FORM}_{kind}_{pname}", PARAM_LABELS.get(pname, pname)
        if pname == "target":  # its choices follow the scope: a key per scope keeps each one's pick
            key += f"_{params.get('scope')}"
        if typ is bool:
            params[pname] = col.checkbox(label, value=bool(current[pname]), key=key)
        elif pname == "scope":
            params[pname] = col.selectbox(label, list(SCOPES), index=list(SCOPES).index(current[pname])
                                          if current[pname] in SCOPES else 0, format_func=SCOPES.get, key=key)
        elif typ is str:
            choices = _choices(pname, params.get("scope"), queue_names, task_names)
            if choices is None:
                params[pname] = col.text_input(label, value=str(current[pname]), key=key,
                                               help=_hint(pname))
            else:
                options = list(dict.fromkeys([EACH, *choices, str(current[pname])]))
                params[pname] = col.selectbox(label, options, index=options.index(str(current[pname])), key=key,
                                              accept_new_options=True, format_func=_each, help=_hint(pname))
        else:
            params[pname] = col.number_input(label, value=typ(current[pname]), key=key,
                                             min_value=typ(lo) if lo is not None else None,
                                             max_value=typ(hi) if hi is not None else None)
    recovery = st.text_input("Message when it recovers", value=base.recovery_message, key=f"{FORM}_rec",
                             placeholder="optional; sent when the condition clears")
    c4, c5 = st.columns([3, 1])
    channels = c4.multiselect("Notify by", rules.CHANNELS, default=[c for c in base.channels if c in rules.CHANNELS],
                              key=f"{FORM}_ch", format_func=CHANNEL_LABELS.get,
                              help="Configured: " + (", ".join(configured) or "none"))
    enabled = c5.checkbox("Enabled", value=base.enabled, key=f"{FORM}_en")
    return Rule(name=name, kind=kind, params=params, severity=severity, cooldown_s=float(cooldown),
                recovery_message=recovery, channels=list(channels), enabled=enabled,
                id=editing.id if editing else "", builtin=editing.builtin if editing else False)


def missing_destination(rule: Rule, configured: list[str]) -> str | None:
    """Why an enabled `rule` would notify nobody (none of its channels has a destination), or None."""
    if not rule.enabled or any(c in configured for c in rule.channels):
        return None
    if not rule.channels:
        return "This rule notifies nobody: choose at least one channel under “Notify by”, or save it disabled."
    unset = " and ".join(CHANNEL_LABELS[c].split(" (")[1].rstrip(")") for c in rule.channels)
    return (f"This rule notifies nobody: {unset} is not set, so its alerts would go nowhere. Set it in the "
            f"environment or .env and restart, choose a configured channel, or save the rule disabled.")


def _choices(pname: str, scope: str | None, queue_names: list[str], task_names: list[str]) -> list[str] | None:
    if pname == "queue" or (pname == "target" and scope == "queue"):
        return list(queue_names)
    if pname == "task" or pname == "target":
        return list(task_names)
    return None


def _each(value: str) -> str:
    return "* (each one)" if value == EACH else value


def _hint(pname: str) -> str | None:
    if pname in ("queue", "task", "target"):
        return "Pick one, '* (each one)' to watch each separately, or type a pattern such as 'email_*'"
    if pname == "entry":
        return "A schedule entry name or a pattern ('*' = every entry)"
    if pname == "worker":
        return "A worker node name or a pattern ('*' = every worker)"
    return None


def destinations_line(s, email_to: str | None, url: str | None) -> str:
    """Where alerts go, in words; with no e-mail destination and mail going to the dev mail sink, how
    to see alert e-mails there (the Email page's Outbox)."""
    from app.alerts import webhook
    from app.mail.smtp import SmtpConfig

    mail = f"E-mail to: {email_to}" if email_to else "E-mail: not set (ALERT_EMAIL_TO)"
    if not email_to and SmtpConfig.from_settings(s).is_sink:
        mail += (" — to try alerts without a mail server, set `ALERT_EMAIL_TO=ops@example.com`: mail goes "
                 "to the dev mail sink and shows in the Email page's Outbox")
    hook = (f"Webhook: {webhook.safe_url(url)} ({s.ALERT_WEBHOOK_FORMAT})" if url
            else "Webhook: not set (ALERT_WEBHOOK_URL)")
    return f"{mail} · {hook} · rules evaluated every {s.ALERT_EVAL_INTERVAL_S:g} s by beat"


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
