"""Send an alert event to its channels: e-mail through the email task family, webhook through
`app.tasks.alert_tasks.deliver_alert_webhook`.

Both are Celery tasks with their own bounded retries. Their task ids are derived from the event id
(``<event id>-email`` / ``<event id>-webhook``): the e-mail task records whom it mailed under its task
id, so a redelivered message never mails twice, and the webhook carries the event id as its
`Idempotency-Key` so a receiver can drop a repeat after a timeout.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from app.alerts import events

EMAIL_TASK = "app.tasks.email_tasks.send_email"
WEBHOOK_TASK = "app.tasks.alert_tasks.deliver_alert_webhook"


def email_text(event: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of the alert e-mail."""
    status = str(event.get("status") or "").upper()
    subject = f"[{status}] [{event.get('severity')}] {event.get('rule_name')}"[:200]
    at = datetime.fromtimestamp(float(event.get("at") or 0), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [str(event.get("message") or ""), "", f"Rule: {event.get('rule_name')} ({event.get('kind')})",
             f"Severity: {event.get('severity')}", f"When: {at}", f"Alert id: {event.get('id')}"]
    subjects = event.get("subjects") or {}
    if subjects:
        lines += ["", "Subjects:"] + [f"  {s}: {d}" for s, d in list(subjects.items())[:50]]
    return " ".join(subject.splitlines()), "\n".join(lines)


def destinations(s) -> tuple[str | None, str | None]:
    """(ALERT_EMAIL_TO, ALERT_WEBHOOK_URL value) from settings `s` — the URL only for use, never for
    display (show `app.alerts.webhook.safe_url` of it)."""
    url = s.ALERT_WEBHOOK_URL.get_secret_value() if s.ALERT_WEBHOOK_URL else None
    return s.ALERT_EMAIL_TO, url


def configured_channels(email_to: str | None, webhook_url: str | None) -> list[str]:
    """The channels that have a destination."""
    return [c for c, dest in (("email", email_to), ("webhook", webhook_url)) if dest]


def dispatch(app, client, event: dict[str, Any], channels: list[str], email_to: str | None,
             webhook_url: str | None) -> dict[str, str]:
    """Queue the deliveries of `event` over `channels` that have a destination; records each as
    queued (or "no destination") on the event. Returns channel -> outcome."""
    out: dict[str, str] = {}
    for channel in channels:
        if channel == "email":
            if not email_to:
                out[channel] = "no destination (ALERT_EMAIL_TO unset)"
                continue
            subject, text = email_text(event)
            r = app.send_task(EMAIL_TASK, kwargs={"to_email": email_to, "subject": subject, "body": text},
                              task_id=f"{event['id']}-email")
            out[channel] = f"queued (task {r.id})"
        elif channel == "webhook":
            if not webhook_url:
                out[channel] = "no destination (ALERT_WEBHOOK_URL unset)"
                continue
            r = app.send_task(WEBHOOK_TASK, args=[event["id"]], task_id=f"{event['id']}-webhook")
            out[channel] = f"queued (task {r.id})"
    for channel, outcome in out.items():
        events.set_delivery(client, event["id"], channel, outcome)
    return out
