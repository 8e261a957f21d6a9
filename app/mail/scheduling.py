"""Scheduled sends: checking the requested time, and the operator's cancel marker.

Why the limit: on the Redis broker, a task with an ETA is delivered to a worker at once and held
there unacknowledged until its time; if it is still unacknowledged after the broker's
visibility_timeout (VISIBILITY_TIMEOUT_S, 12 h here), Redis hands it to another worker too and the
mail goes out twice (Celery docs, "Using Redis: Visibility timeout"). So a send time must lie less
than VISIBILITY_TIMEOUT_S ahead; a later one is refused with an error saying so.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.errors import InvalidInput
from app.store import mail as mail_store

#: A send time this far in the past still counts as "now" (clock skew between console and worker).
PAST_GRACE_S = 60.0


def parse_send_at(value: str | datetime) -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string (naive means UTC).

    Raises:
        InvalidInput: not an ISO 8601 date-time.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"Send time {value!r} is not an ISO 8601 date-time "
                               f"(e.g. 2030-01-31T09:00:00+00:00).") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def check_send_at(value: str | datetime, max_ahead_s: float, now: datetime | None = None) -> datetime:
    """The send time (aware UTC) after checking it lies in [now - 60 s, now + max_ahead_s).

    Args:
        max_ahead_s: the broker's visibility timeout (VISIBILITY_TIMEOUT_S).
    Raises:
        InvalidInput: unparseable, in the past, or not below the visibility timeout.
    """
    send_at = parse_send_at(value)
    now = now or datetime.now(timezone.utc)
    if send_at < now - timedelta(seconds=PAST_GRACE_S):
        raise InvalidInput(f"Send time {send_at:%Y-%m-%d %H:%M:%S} UTC is in the past.")
    if send_at >= now + timedelta(seconds=max_ahead_s):
        raise InvalidInput(f"Send time {send_at:%Y-%m-%d %H:%M:%S} UTC is {max_ahead_s / 3600:g} h or more "
                           f"ahead: scheduled mail must be sent within the broker's visibility timeout "
                           f"(VISIBILITY_TIMEOUT_S = {max_ahead_s:g} s), or it may be delivered twice. "
                           f"Pick an earlier time or use a beat schedule.")
    return send_at


def cancel(client, task_id: str) -> None:
    """Mark a scheduled send as cancelled (the task drops it if it still starts)."""
    mail_store.cancel(client, task_id)


def is_cancelled(client, task_id: str) -> bool:
    """True when the operator cancelled this scheduled send."""
    return mail_store.is_cancelled(client, task_id)
