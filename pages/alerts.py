"""Alerts: rules kept in Redis (failure rate, queue depth/age, no consumer, worker offline, runtime
p95, missed schedule, Redis memory), a test alert per rule, and the history of alerts sent."""
import streamlit as st

from app.alerts import engine, events, notify, rules
from app.store import history
from app.store.clients import STORE_DOWN
from app.ui import alert_forms as ui
from app.ui import alert_rules, app_selector, confirm, flash
from app.ui.access import can
from app.ui.navigation import via_entry_script
from app.ui.resources import redis_client, redis_ok_or_banner, settings
from config.celery_settings import QUEUES

via_entry_script()

st.title("Alerts")
if not redis_ok_or_banner():
    st.stop()
client, s, chosen = redis_client(), settings(), app_selector.choose()  # several monitored apps: all, or one
email_to, url = notify.destinations(s)
configured = notify.configured_channels(email_to, url)
flash.show(alert_rules.FLASH)
confirm.pending_box()
st.caption(ui.destinations_line(s, email_to, url))
try:
    rules.seed_defaults(client, bool(configured))
    all_rules, states = rules.load_all(client), engine.load_states(client)
    shown, items, apps = ui.app_scope(client, chosen, all_rules, events.recent(client, 200))
except STORE_DOWN as exc:
    st.error(f"Redis stopped answering: {exc}", icon=":material/error:")
    st.stop()
ui.firing_banner(client)
if not all_rules:
    st.info("No alert rules yet. Set ALERT_EMAIL_TO or ALERT_WEBHOOK_URL to install the default rules "
            "(no consumer, worker offline, failing task, missed schedule), or add one below.")

rules_tab, history_tab = st.tabs(["Rules", "History"])
with history_tab:
    st.dataframe(ui.history_table(items), hide_index=True, width="stretch")
    if not items:
        st.caption("No alert fired yet" + (f" for app {chosen}." if chosen else "."))

with rules_tab:
    st.dataframe(ui.rules_table(shown, states, apps), hide_index=True, width="stretch")
    if not can("alert_rule_save"):
        st.caption("Read-only: editing rules and sending test alerts needs the admin role.")
        st.stop()
    editing = alert_rules.picked_rule(client, shown, email_to, url)
    st.subheader(f"Edit '{editing.name}'" if editing else "New rule")
    queues = app_selector.alert_queue_names(QUEUES)  # "<app>:<queue>" for another app
    draft = ui.rule_form(editing, queues, history.task_names(client), configured)
    alert_rules.save_button(client, draft, configured)
