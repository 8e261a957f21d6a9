"""Alerts: rules kept in Redis (failure rate, queue depth/age, no consumer, worker offline, runtime
p95, missed schedule, Redis memory), a test alert per rule, and the history of alerts sent."""
import redis
import streamlit as st

from app.alerts import admin, engine, events, notify, rules, webhook
from app.errors import ConsoleError
from app.store import history
from app.ui import alert_forms as ui
from app.ui import confirm
from app.ui.access import can
from app.ui.navigation import via_entry_script
from app.ui.resources import celery, redis_client, redis_ok_or_banner, settings
from config.celery_settings import QUEUES

via_entry_script()

st.title("Alerts")
if not redis_ok_or_banner():
    st.stop()
client, s = redis_client(), settings()
email_to, url = notify.destinations(s)
if flash := st.session_state.pop("al_flash", None):
    st.success(flash)
confirm.pending_box()
st.caption(f"E-mail to: {email_to or 'not set (ALERT_EMAIL_TO)'} · Webhook: "
           f"{webhook.safe_url(url) + ' (' + s.ALERT_WEBHOOK_FORMAT + ')' if url else 'not set (ALERT_WEBHOOK_URL)'}"
           f" · rules evaluated every {s.ALERT_EVAL_INTERVAL_S:g} s by beat")
try:
    rules.seed_defaults(client, bool(email_to or url))
    all_rules, states = rules.load_all(client), engine.load_states(client)
except (redis.RedisError, OSError) as exc:
    st.error(f"Redis stopped answering: {exc}", icon=":material/error:")
    st.stop()
ui.firing_banner(client)
if not all_rules:
    st.info("No alert rules yet. Set ALERT_EMAIL_TO or ALERT_WEBHOOK_URL to install the default rules "
            "(no consumer, worker offline, failing task, missed schedule), or add one below.")

rules_tab, history_tab = st.tabs(["Rules", "History"])
with history_tab:
    items = events.recent(client, 200)
    st.dataframe(ui.history_table(items), hide_index=True, width="stretch")
    if not items:
        st.caption("No alert fired yet.")

with rules_tab:
    st.dataframe(ui.rules_table(all_rules, states), hide_index=True, width="stretch")
    if not can("alert_rule_save"):
        st.caption("Read-only: editing rules and sending test alerts needs the admin role.")
        st.stop()
    editing = None
    if all_rules:
        by_id = {r.id: r for r in all_rules}
        pick = st.selectbox("Rule", list(by_id), format_func=lambda i: by_id[i].name, key="al_pick")
        rule, who, app = by_id[pick], confirm.who(), celery()
        c = st.columns(4)
        if c[0].button("Send test alert", key="al_test"):
            confirm.ask(f"Send a test alert for '{rule.name}'",
                        lambda: admin.send_test_alert(app, client, rule, who, email_to, url))
        if c[1].button("Disable" if rule.enabled else "Enable", key="al_toggle"):
            rule.enabled = not rule.enabled
            try:
                admin.save_alert_rule(client, rule, who)
            except ConsoleError as exc:
                st.error(str(exc))
            else:
                st.session_state["al_flash"] = f"{rule.name} {'enabled' if rule.enabled else 'disabled'}."
                st.rerun()
        edit = c[2].toggle("Edit", key="al_edit")
        if c[3].button("Delete", key="al_delete"):
            confirm.ask(f"Delete alert rule '{rule.name}'", lambda: admin.delete_alert_rule(client, rule.id, who))
        editing = rule if edit else None
    st.subheader(f"Edit '{editing.name}'" if editing else "New rule")
    draft = ui.rule_form(editing, list(QUEUES), history.task_names(client))
    if st.button("Save rule", type="primary", key="al_save"):
        try:
            saved = admin.save_alert_rule(client, draft, confirm.who())
        except ConsoleError as exc:
            st.error(str(exc))
        else:
            st.session_state["al_flash"] = f"Rule '{saved.name}' saved: {saved.describe()}."
            st.session_state.pop("al_edit", None)
            st.rerun()

