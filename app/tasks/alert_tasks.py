"""Alert tasks on default_queue: the periodic rule evaluation and webhook delivery.

`evaluate_alerts` runs from the RedBeat entry ``evaluate-alerts`` (every ALERT_EVAL_INTERVAL_S; one
beat sends it, RedBeat's lock keeps a second beat idle) and holds a Redis lock while it works, so
two evaluations never overlap (a second one is skipped). `deliver_alert_webhook` POSTs one event
with a timeout and retries what may pass (connection errors, timeouts, 408/429/5xx) at most
ALERT_WEBHOOK_MAX_RETRIES times with exponential backoff; the webhook URL is read from the settings
in the worker and never leaves it (logs and results show `webhook.safe_url`).
"""
from __future__ import annotations

import logging

from celery import shared_task

from app.alerts import checks, engine, events, notify, rules, webhook
from app.errors import ServiceUnavailable, WebhookRejected
from app.monitor import brokers
from app.monitor.apps import MonitoredApps
from app.store.clients import redis_from_url
from app.store import locks
from app.tasks.base import ConsoleTask
from config.celery_settings import QUEUES
from config.settings import get_settings

log = logging.getLogger(__name__)


def run_evaluation(app, client, broker, s) -> list[dict]:
    """Seed the default rules (once, when a destination is set), evaluate every rule and queue the
    deliveries; returns the events written."""
    email_to, url = notify.destinations(s)
    rules.seed_defaults(client, bool(email_to or url))
    all_rules = rules.load_all(client)
    named = [r.params.get("queue") for r in all_rules if r.params.get("queue") not in (None, "*")]
    paused_or_seen = [q for q in named if q and "*" not in q and "?" not in q]
    ctx = checks.Context(client, broker, list(QUEUES) + [q for q in paused_or_seen if ":" not in q],
                         s.WORKER_OFFLINE_AFTER_S, app=app, apps=MonitoredApps.from_settings(s, app, QUEUES))
    written = engine.evaluate(client, ctx, all_rules, s.ALERT_HISTORY_MAX)
    for ev in written:
        if ev.get("deliver") == "yes":
            notify.dispatch(app, client, ev, [c for c in ev["channels"].split(",") if c], email_to, url)
    return written


@shared_task(base=ConsoleTask, bind=True, soft_time_limit=50, time_limit=60, ignore_result=True)
def evaluate_alerts(self) -> dict:
    """Evaluate every alert rule once (see `app.alerts.engine`).

    Returns ``{'status': 'completed', 'rules', 'events': [{rule_id, status}]}`` or
    ``{'status': 'skipped', 'reason'}`` when another evaluation holds the lock.
    """
    s = get_settings()
    with redis_from_url(s.result_backend) as client, locks.exclusive(client, "evaluate_alerts", ttl_s=60) as mine:
        if not mine:
            return {"status": "skipped", "reason": "another evaluation is running"}
        broker = brokers.for_settings(s)
        try:
            written = run_evaluation(self.app, client, broker, s)
        finally:
            broker.close()
        return {"status": "completed", "events": [{"rule_id": e["rule_id"], "status": e["status"]} for e in written]}


@shared_task(base=ConsoleTask, bind=True, max_retries=None, soft_time_limit=60, time_limit=90)
def deliver_alert_webhook(self, event_id: str) -> dict:
    """POST alert event `event_id` to ALERT_WEBHOOK_URL (ALERT_WEBHOOK_FORMAT json or slack).

    Returns ``{'status': 'delivered', 'http_status', 'attempts', 'url'}`` (url reduced by
    `webhook.safe_url`), or ``{'status': 'failed', 'reason', 'attempts'}`` after
    ALERT_WEBHOOK_MAX_RETRIES retries, or when the receiver refuses it (4xx) — recorded on the event
    either way. A missing event or URL fails at once.
    """
    s = get_settings()
    attempt = self.request.retries + 1
    with redis_from_url(s.result_backend) as client:
        event = events.get(client, event_id)
        _, url = notify.destinations(s)
        if not event or not url:
            reason = "no such alert event" if not event else "ALERT_WEBHOOK_URL is not set"
            if event:
                events.set_delivery(client, event_id, "webhook", f"failed: {reason}")
            return {"status": "failed", "reason": reason, "attempts": attempt}
        payload = webhook.body(event, s.ALERT_WEBHOOK_FORMAT, s.CONSOLE_URL)
        try:
            code = webhook.post(url, payload, s.ALERT_WEBHOOK_TIMEOUT_S, event_id)
        except WebhookRejected as exc:
            events.set_delivery(client, event_id, "webhook", f"failed: {exc}")
            log.warning("alert %s: %s", event_id, exc)
            return {"status": "failed", "reason": str(exc), "attempts": attempt}
        except ServiceUnavailable as exc:
            if self.request.retries >= s.ALERT_WEBHOOK_MAX_RETRIES:
                events.set_delivery(client, event_id, "webhook", f"failed after {attempt} attempts: {exc}")
                log.warning("alert %s: giving up after %d attempts: %s", event_id, attempt, exc)
                return {"status": "failed", "reason": str(exc), "attempts": attempt}
            countdown = min(s.ALERT_WEBHOOK_RETRY_S * 2 ** self.request.retries, 600)
            events.set_delivery(client, event_id, "webhook",
                                f"retrying in {countdown:g} s (attempt {attempt} failed: {exc})")
            log.info("alert %s: attempt %d failed (%s); retrying in %g s", event_id, attempt, exc, countdown)
            raise self.retry(countdown=countdown, exc=exc) from None
        events.set_delivery(client, event_id, "webhook", f"delivered (HTTP {code}, attempt {attempt})")
        return {"status": "delivered", "http_status": code, "attempts": attempt, "url": webhook.safe_url(url)}
