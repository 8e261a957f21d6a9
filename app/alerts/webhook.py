"""Alert webhooks: URL checks, the JSON body (plain or Slack-compatible), one POST with a timeout.

The URL may carry a secret (Slack's incoming-webhook URLs do, in the path; others put a token in the
query or user info), so it is never logged or shown whole: `safe_url` keeps scheme, host and port.
Retrying is the delivery task's business (`app.tasks.alert_tasks.deliver_alert_webhook`): `post`
raises `ServiceUnavailable` for what may pass (connection error, timeout, 408, 429, 5xx) and
`WebhookRejected` for what will not (other 4xx).
"""
from __future__ import annotations

from types import MappingProxyType
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.errors import InvalidInput, ServiceUnavailable, WebhookRejected

FORMATS = ("json", "slack")
SEVERITY_EMOJI = MappingProxyType({"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"})
IDEMPOTENCY_HEADER = "Idempotency-Key"


def validate_url(url: str) -> str:
    """`url` stripped, when it is an absolute http:// or https:// URL with a host.

    Raises:
        InvalidInput: another scheme (file:, ftp:, javascript: …), no host, spaces, or over 2000
            characters.
    """
    url = (url or "").strip()
    if not url or len(url) > 2000 or any(c.isspace() for c in url):
        raise InvalidInput("The webhook URL must be a single http:// or https:// URL (max 2000 characters).")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidInput(f"The webhook URL is not a valid URL ({safe_url(url)}).") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"The webhook URL must start with http:// or https://, not {parts.scheme or 'nothing'}:.")
    if not parts.hostname:
        raise InvalidInput("The webhook URL has no host.")
    return url


def safe_url(url: str) -> str:
    """The URL reduced to ``scheme://host[:port]/…`` (no user info, path or query): safe to log."""
    try:
        parts = urlsplit((url or "").strip())
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    tail = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme or '?'}://{host}{port}{tail}"


def body(event: dict[str, Any], fmt: str = "json", console_url: str | None = None) -> dict[str, Any]:
    """The JSON body for an alert event.

    ``json``: ``{id, status (fired|resolved|test), severity, rule: {id, name, kind}, message,
    subjects: {subject: detail}, at (ISO 8601 UTC), console_url}``.
    ``slack``: ``{text, blocks}`` as Slack's incoming webhooks (and Mattermost, Rocket.Chat) accept,
    with the plain fields above under ``alert`` too.
    """
    at = datetime.fromtimestamp(float(event.get("at") or 0), timezone.utc).isoformat()
    plain = {"id": event.get("id"), "status": event.get("status"), "severity": event.get("severity"),
             "rule": {"id": event.get("rule_id"), "name": event.get("rule_name"), "kind": event.get("kind")},
             "message": event.get("message"), "subjects": event.get("subjects") or {}, "at": at,
             "console_url": console_url}
    if fmt == "json":
        return plain
    if fmt != "slack":
        raise InvalidInput(f"Unknown webhook format {fmt!r}: use json or slack.")
    status = str(event.get("status") or "").upper()
    emoji = ":white_check_mark:" if event.get("status") == "resolved" else SEVERITY_EMOJI.get(
        str(event.get("severity")), ":bell:")
    title = f"{emoji} [{status}] {event.get('rule_name')}"
    lines = [f"• `{s}`: {d}" for s, d in list((event.get("subjects") or {}).items())[:20]]
    text = "\n".join([title, str(event.get("message") or ""), *lines])
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]
    if console_url:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{console_url}|Open the console>"}]})
    return {"text": text[:3000], "blocks": blocks, "alert": plain}


def post(url: str, payload: dict[str, Any], timeout_s: float, idempotency_key: str) -> int:
    """POST `payload` as JSON; returns the HTTP status (2xx/3xx).

    The `Idempotency-Key` header carries the event id, so a receiver can drop a repeat (a retry
    after a timeout may deliver twice). Redirects are not followed.

    Raises:
        ServiceUnavailable: connection refused/reset, DNS failure, timeout, 408, 429 or 5xx — retry.
        WebhookRejected: any other 4xx — do not retry.
    """
    where = safe_url(url)
    try:
        response = httpx.post(url, json=payload, timeout=timeout_s, follow_redirects=False,
                              headers={IDEMPOTENCY_HEADER: idempotency_key,
                                       "User-Agent": "celery-console-alerts/1"})
    except httpx.TimeoutException:
        raise ServiceUnavailable(f"webhook {where} timed out after {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"webhook {where} unreachable ({type(exc).__name__})") from None
    code = response.status_code
    if code in (408, 429) or code >= 500:
        raise ServiceUnavailable(f"webhook {where} answered HTTP {code}")
    if code >= 400:
        raise WebhookRejected(f"webhook {where} refused the alert with HTTP {code}; check ALERT_WEBHOOK_URL")
    return code
