"""Operator actions on alert rules, each checked and audited through `app.access.act` (admin)."""
from __future__ import annotations

from typing import Any

from app.access import Identity, act
from app.alerts import events, notify, rules
from app.errors import InvalidInput


def save_alert_rule(client, rule, who: Identity):
    """Validate and store an alert rule (`app.alerts.rules.save`); audited.

    Raises:
        PermissionDenied: below admin. InvalidInput: see `rules.validate`.
    """
    with act(client, who, "alert_rule_save", rule.id or rule.name) as a:
        saved = rules.save(client, rule)
        a.detail.update(id=saved.id, name=saved.name, kind=saved.kind, enabled=saved.enabled)
    return saved


def delete_alert_rule(client, rule_id: str, who: Identity) -> dict[str, Any]:
    """Delete an alert rule and its state; audited. Raises InvalidInput when there is none."""
    with act(client, who, "alert_rule_delete", rule_id):
        rules.delete(client, rule_id)
    return {"ok": True, "action": "alert_rule_delete", "rule_id": rule_id}


def send_test_alert(app, client, rule, who: Identity, email_to: str | None,
                    webhook_url: str | None) -> dict[str, Any]:
    """Write a ``test`` event for `rule` and deliver it over the rule's channels; audited.

    Raises:
        PermissionDenied: below admin.
        InvalidInput: no destination is configured for any of the rule's channels.
    """
    with act(client, who, "alert_test", rule.id) as a:
        channels = [c for c in rule.channels if c in notify.configured_channels(email_to, webhook_url)]
        if not channels:
            raise InvalidInput("No destination for this rule's channels: set ALERT_EMAIL_TO and/or "
                               "ALERT_WEBHOOK_URL.")
        event = events.write(client, {"rule_id": rule.id, "rule_name": rule.name, "kind": rule.kind,
                                      "severity": rule.severity, "status": "test", "deliver": "yes",
                                      "channels": ",".join(channels),
                                      "subjects": {"test": f"sent by {who.name if who else '?'}"},
                                      "message": f"Test alert for rule '{rule.name}' ({rule.describe()})."})
        outcome = notify.dispatch(app, client, event, channels, email_to, webhook_url)
        a.detail.update(event=event["id"], channels=outcome)
    return {"ok": True, "action": "alert_test", "event_id": event["id"], "channels": outcome}
