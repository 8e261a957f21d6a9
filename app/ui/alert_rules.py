"""The Alerts page's actions: pick a rule and test, enable/disable, edit or delete it; save a rule.

Each action runs as the signed-in identity (admin; checked and audited in `app.alerts.admin`). A
rule that is enabled but has no configured destination on any of its channels is refused with the
reason (it would fire and tell nobody).
"""
from __future__ import annotations

import streamlit as st

from app.alerts import admin
from app.alerts.rules import Rule
from app.errors import ConsoleError
from app.ui import alert_forms as forms
from app.ui import confirm
from app.ui.resources import celery

FLASH = "al_flash"


def picked_rule(client, all_rules: list[Rule], email_to: str | None, url: str | None) -> Rule | None:
    """The rule picker and its buttons; returns the picked rule while "Edit" is on, else None."""
    if not all_rules:
        return None
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
            st.session_state[FLASH] = f"{rule.name} {'enabled' if rule.enabled else 'disabled'}."
            st.rerun()
    edit = c[2].toggle("Edit", key="al_edit")
    if c[3].button("Delete", key="al_delete"):
        confirm.ask(f"Delete alert rule '{rule.name}'", lambda: admin.delete_alert_rule(client, rule.id, who))
    return rule if edit else None


def save_button(client, draft: Rule, configured: list[str]) -> None:
    """"Save rule": refused with the reason when the rule would notify nobody or is invalid."""
    if not st.button("Save rule", type="primary", key="al_save"):
        return
    if why := forms.missing_destination(draft, configured):
        st.error(why, icon=":material/notifications_off:")
        return
    try:
        saved = admin.save_alert_rule(client, draft, confirm.who())
    except ConsoleError as exc:
        st.error(str(exc))
    else:
        st.session_state[FLASH] = f"Rule '{saved.name}' saved: {saved.describe()}."
        st.session_state.pop("al_edit", None)
        st.rerun()
