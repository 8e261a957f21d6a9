"""The one publish-side guard for countdowns and ETAs.

Redis gives an unacked message to another worker once it has been unacked for the visibility
timeout (VISIBILITY_TIMEOUT_S). A worker holds a message with an ETA unacked until the ETA, so a
countdown/ETA at or beyond the visibility timeout runs twice (Celery docs, "Redis caveats:
visibility timeout"). Every publish goes through `app.runtime.celery_app.ConsoleCelery.send_task`,
which calls `check`:

- a new task with such a countdown/ETA is **refused** with `EtaTooFar` (nothing is queued); use a
  schedule (Schedules page, a RedBeat entry) for work further ahead;
- a retry (``self.retry(countdown=...)``) gets its countdown **capped** to `headroom` below the
  visibility timeout: it runs earlier than asked, but once.
"""
from __future__ import annotations

from datetime import datetime, timezone

from app.errors import EtaTooFar

#: Seconds kept between a capped retry's ETA and the visibility timeout (worker clock skew, start-up).
HEADROOM_S = 5.0


def delay_s(countdown: float | None, eta: datetime | str | None, now: datetime | None = None) -> float | None:
    """Seconds from `now` until the task may run (None when neither countdown nor ETA is given)."""
    if countdown is not None:
        return float(countdown)
    if eta is None:
        return None
    when = datetime.fromisoformat(eta) if isinstance(eta, str) else eta
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - (now or datetime.now(timezone.utc))).total_seconds()


def check(countdown: float | None, eta, visibility_timeout_s: float | None, *, is_retry: bool = False,
          now: datetime | None = None) -> float | None:
    """Validate a publish's countdown/ETA against the visibility timeout.

    Returns None when the publish may go as asked, or a replacement countdown (seconds) for a retry
    whose delay had to be capped.

    Raises:
        EtaTooFar: a new task's countdown/ETA is at or beyond `visibility_timeout_s`.
    """
    delay = delay_s(countdown, eta, now)
    if delay is None or not visibility_timeout_s or delay < visibility_timeout_s:
        return None
    if is_retry:
        return max(0.0, visibility_timeout_s - HEADROOM_S)
    raise EtaTooFar(f"A countdown/ETA of {delay:,.0f} s is at or beyond the broker's visibility timeout "
                    f"({visibility_timeout_s:,.0f} s, VISIBILITY_TIMEOUT_S): Redis would hand the message to a "
                    "second worker and the task would run twice. Use a schedule (Schedules page) for work "
                    "that far ahead, or a shorter countdown.")
