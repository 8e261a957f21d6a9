"""The "when and how urgent" part of every submit form: priority, Run after (countdown), Run at (ETA).

`inputs(key)` draws the widgets (inside the caller's ``st.form``) and returns a `Choice`; on submit
the form calls ``choice.options(app)`` for the ``apply_async`` options — ``priority`` translated to
the broker's order (`app.priority`) and ``countdown`` (seconds) or ``eta`` (aware UTC datetime) —
or shows the `InvalidInput` it raises and queues nothing.

The long-countdown rule is checked here before anything is sent, with the same function the
publisher uses (`app.schedules.eta_guard.check`): on Redis, a countdown/ETA at or beyond the
visibility timeout (VISIBILITY_TIMEOUT_S) is refused, because Redis would hand the held message to
a second worker and the task would run twice. On RabbitMQ the broker closes the channel of a
delivery left unacked past its ``consumer_timeout`` (30 min by default): longer delays are allowed
but the form says so.
"""
from __future__ import annotations

from types import MappingProxyType
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from app import priority
from app.errors import EtaTooFar, InvalidInput
from app.schedules import eta_guard

NOW, AFTER, AT = "Now", "Run after", "Run at"
#: Countdown units offered -> seconds.
UNITS_S = MappingProxyType({"seconds": 1, "minutes": 60, "hours": 3600})
#: RabbitMQ's default consumer_timeout: a delivery unacked longer closes its channel.
RABBITMQ_CONSUMER_TIMEOUT_S = 1800
#: An ETA this far in the past is taken as "now" (the seconds spent filling the form).
PAST_SLACK_S = 60.0


def zone(name: str) -> ZoneInfo:
    """The operator's time zone (setting TIMEZONE); UTC when the name is unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _visibility_timeout_s(app) -> float | None:
    """The limit the publisher enforces: the Redis broker's visibility timeout, None on RabbitMQ."""
    if priority.is_amqp(str(app.conf.broker_url or "")):
        return None
    return (app.conf.broker_transport_options or {}).get("visibility_timeout")


@dataclass(frozen=True)
class Choice:
    """What the operator chose: `priority` (console number, 0 = highest), `mode` (NOW, AFTER, AT),
    `after` / `unit` (the countdown as typed), `day` / `at` (the wall-clock time in `tz`)."""

    priority: int
    mode: str = NOW
    after: float = 0.0
    unit: str = "minutes"
    day: date | None = None
    at: dtime | None = None
    tz: str = "UTC"

    def delay(self, now: datetime | None = None) -> tuple[float | None, datetime | None]:
        """``(countdown_s, None)``, ``(None, eta_utc)`` or ``(None, None)`` for "now".

        Raises:
            InvalidInput: a countdown that is not positive, or a Run-at time already past.
        """
        if self.mode == AFTER:
            countdown_s = float(self.after) * UNITS_S[self.unit]
            if countdown_s <= 0:
                raise InvalidInput("Run after needs a delay above 0 (or choose Now).")
            return countdown_s, None
        if self.mode == AT:
            if self.day is None or self.at is None:
                raise InvalidInput("Run at needs a date and a time.")
            eta = datetime.combine(self.day, self.at, tzinfo=zone(self.tz)).astimezone(timezone.utc)
            now = now or datetime.now(timezone.utc)
            if (eta - now).total_seconds() < -PAST_SLACK_S:
                raise InvalidInput(f"Run at {self.at:%H:%M} on {self.day:%Y-%m-%d} ({self.tz}) has already "
                                   "passed: choose a later time, or Now.")
            return None, eta
        return None, None

    def run_at(self, now: datetime | None = None) -> datetime | None:
        """When the task may start (aware UTC), or None for "now"."""
        now = now or datetime.now(timezone.utc)
        countdown_s, eta = self.delay(now)
        return eta if eta is not None else (now + timedelta(seconds=countdown_s) if countdown_s else None)

    def options(self, app, now: datetime | None = None) -> dict:
        """The ``apply_async`` options for `app`: ``priority`` (the broker's value) and ``countdown``
        (seconds) or ``eta`` (aware UTC datetime) when the task is delayed.

        Raises:
            InvalidInput: a delay that is not positive or already past, or (Redis) at or beyond the
                visibility timeout (`EtaTooFar`, an InvalidInput, with the reason).
        """
        countdown_s, eta = self.delay(now)
        try:
            eta_guard.check(countdown_s, eta, _visibility_timeout_s(app), now=now)
        except EtaTooFar as exc:
            raise EtaTooFar(f"Not queued: {exc}") from None
        out: dict = {"priority": priority.for_app(app, self.priority)}
        if countdown_s is not None:
            out["countdown"] = countdown_s
        if eta is not None:
            out["eta"] = eta
        return out


def rule_text(app) -> str:
    """The long-delay rule of `app`'s broker, in one sentence for the form."""
    vt = _visibility_timeout_s(app)
    if vt:
        return (f"Delays must stay under {vt / 3600:g} h (VISIBILITY_TIMEOUT_S): on Redis a longer one "
                "would be delivered to a second worker and run twice; use a schedule for later work.")
    if priority.is_amqp(str(app.conf.broker_url or "")):
        return (f"On RabbitMQ a worker holds a delayed task unacked until it runs; past the server's "
                f"consumer_timeout ({RABBITMQ_CONSUMER_TIMEOUT_S // 60} min by default) RabbitMQ closes "
                "the channel and redelivers it: raise consumer_timeout for longer delays.")
    return ""


def inputs(key: str, app, *, settings, delay: bool = True, default_mode: str = NOW) -> Choice:
    """Draw priority and (with `delay`) Now / Run after / Run at, inside the caller's form.

    Args:
        key: a prefix unique on the page (widget keys are ``<key>_priority``, ``<key>_when``,
            ``<key>_after``, ``<key>_unit``, ``<key>_date``, ``<key>_time``).
        app: the Celery app the form sends to (its broker decides the long-delay rule shown).
        settings: the console settings (TIMEZONE names the operator's time zone).
        default_mode: which of NOW, AFTER, AT is selected at first.
    Returns:
        The `Choice` as the widgets read now (meaningful once the form is submitted).
    """
    tz = settings.TIMEZONE
    cols = st.columns([2, 3]) if delay else [st.container()]
    prio = cols[0].select_slider(
        "Priority", options=list(range(priority.HIGHEST, priority.LOWEST + 1)),
        value=priority.LEVELS[priority.DEFAULT_LEVEL], format_func=priority.label, key=f"{key}_priority",
        help="0 = highest, 9 = lowest, on either broker (the console translates it: on RabbitMQ a higher "
             "number runs first, so 0 is sent as 9). Priorities order the tasks waiting in one queue.")
    if not delay:
        return Choice(priority=prio, tz=tz)
    modes = [NOW, AFTER, AT]
    mode = cols[1].radio("When", modes, index=modes.index(default_mode), horizontal=True, key=f"{key}_when")
    now_local = datetime.now(zone(tz)) + timedelta(minutes=10)
    c1, c2, c3, c4 = st.columns(4)
    after = c1.number_input("Run after", min_value=0.0, value=10.0, step=1.0, key=f"{key}_after")
    unit = c2.selectbox("Unit", list(UNITS_S), index=1, key=f"{key}_unit")
    day = c3.date_input(f"Run at: date ({tz})", value=now_local.date(), key=f"{key}_date")
    at = c4.time_input(f"Run at: time ({tz})", value=now_local.time().replace(second=0, microsecond=0),
                       step=60, key=f"{key}_time")
    if text := rule_text(app):
        st.caption(f"“Run after” counts from submit; “Run at” is in {tz}. {text}")
    return Choice(priority=prio, mode=mode, after=after, unit=unit, day=day, at=at, tz=tz)


def task_line(task: dict, app) -> str:
    """The priority and ETA of a recorded task (history hash) in one line for its detail, e.g.
    ``"Priority high (0) · broker value 9 · runs at 2026-01-02 10:00:00 UTC"``; "" when it has neither."""
    parts = []
    raw = task.get("priority")
    if raw not in (None, ""):
        url, top = str(app.conf.broker_url or ""), app.conf.task_queue_max_priority
        number = priority.from_broker(raw, url, top)
        parts.append(f"Priority {priority.label(number)} · broker value {raw}")
    if task.get("eta"):
        try:
            eta = datetime.fromisoformat(str(task["eta"]))
            eta = eta if eta.tzinfo else eta.replace(tzinfo=timezone.utc)
            shown = f"{eta.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
        except ValueError:
            shown = str(task["eta"])
        parts.append(f"runs at {shown} (ETA/countdown)")
    return " · ".join(parts)
