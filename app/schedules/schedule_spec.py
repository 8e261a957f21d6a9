"""Beat schedules as plain dicts: parse, validate, describe in words, preview the next runs (pure).

No Redis and no beat: this is what the Schedules page and the tests use to check a schedule before
`app.schedules` stores it in RedBeat. A schedule is given as a plain dict:

- ``{'type': 'interval', 'every_s': 60}`` — every `every_s` seconds, counted from the last run
  (celery.schedules.schedule);
- ``{'type': 'crontab', 'minute': '0', 'hour': '*/2', 'day_of_week': '*', 'day_of_month': '*',
  'month_of_year': '*'}`` — Celery's crontab, read in Celery's ``timezone`` (settings.TIMEZONE).
  Celery matches day_of_month AND day_of_week (Unix cron ORs them when both are restricted).

Celery's own schedule classes do the arithmetic, so previews are the times beat will use.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery import Celery
from celery.schedules import ParseException, crontab, schedule as interval_schedule

from app.errors import InvalidInput

#: Crontab fields in Unix order (minute hour day-of-month month day-of-week).
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
CRON_LABELS = MappingProxyType({"minute": "minute", "hour": "hour", "day_of_month": "day of month",
                                "month_of_year": "month", "day_of_week": "day of week"})
_CRON_CHARS = re.compile(r"^[0-9A-Za-z*,/\-]{1,64}$")
#: Entry names become Redis keys (``redbeat:<name>``): letters, digits, space, ``_ . -``.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,79}$")
MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 366 * 86_400



def parse_schedule(spec: dict[str, Any], app: Celery | None = None):
    """The Celery schedule object for a schedule dict.

    Raises:
        InvalidInput: unknown type, interval outside 1 s .. 366 days, or a crontab field Celery's
            crontab parser rejects (the message names the field).
    """
    if not isinstance(spec, dict):
        raise InvalidInput("A schedule must be a dict with a 'type' of 'interval' or 'crontab'.")
    kind = spec.get("type")
    if kind == "interval":
        try:
            every_s = float(spec.get("every_s"))
        except (TypeError, ValueError):
            raise InvalidInput("An interval schedule needs 'every_s', a number of seconds.") from None
        if not MIN_INTERVAL_S <= every_s <= MAX_INTERVAL_S:
            raise InvalidInput(f"The interval must be between {MIN_INTERVAL_S} s and 366 days; "
                               f"got {every_s:g} s.")
        return interval_schedule(timedelta(seconds=every_s), app=app)
    if kind == "crontab":
        fields = cron_fields(spec)
        for name, value in fields.items():  # one field at a time so the error names it
            try:
                crontab(**{name: value}, app=app)
            except (ValueError, ParseException, TypeError) as exc:
                raise InvalidInput(
                    f"The crontab {CRON_LABELS[name]} '{value}' is not valid ({exc}). Use a number, "
                    f"'*', a range '1-5', a step '*/15' or a list '0,30'.") from None
        return crontab(**fields, app=app)
    raise InvalidInput(f"Unknown schedule type {kind!r}: use 'interval' or 'crontab'.")


def cron_fields(spec: dict[str, Any]) -> dict[str, str]:
    """The five crontab fields of `spec` as stripped strings ('*' when absent).

    Raises:
        InvalidInput: a field is empty or holds characters a crontab never uses.
    """
    out = {}
    for name in CRON_FIELDS:
        raw = spec.get(name)
        value = "*" if raw is None else str(raw).strip().replace(" ", "")
        if not _CRON_CHARS.match(value):
            raise InvalidInput(f"The crontab {CRON_LABELS[name]} '{value[:64]}' is not valid: use "
                               f"digits, names (mon, jan), '*', ',', '-' and '/' only.")
        out[name] = value
    return out


def crontab_line(spec: dict[str, Any]) -> str | None:
    """The schedule as a Unix crontab line ``"m h dom mon dow"``.

    An interval gets the crontab firing at the same rate when one exists (every_s a divisor of
    an hour in whole minutes, or of a day in whole hours), else None. (An interval counts from the
    last run, a crontab from the clock, so they agree on the rate, not on the exact minute.)
    """
    if spec.get("type") == "crontab":
        f = cron_fields(spec)
        return " ".join(f[n] for n in CRON_FIELDS)
    every_s = float(spec.get("every_s") or 0)
    if every_s <= 0 or every_s % 60:
        return None
    minutes = int(every_s // 60)
    if minutes == 1:
        return "* * * * *"
    if minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if minutes % 60 == 0:
        hours = minutes // 60
        if hours == 24:
            return "0 0 * * *"
        if hours < 24 and 24 % hours == 0:
            return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    return None


def describe(spec: dict[str, Any]) -> str:
    """The schedule in words, e.g. "Every 5 minutes" or "At 03:00, Monday through Friday".

    Crontab wording comes from cron-descriptor (24-hour clock); an expression it cannot word is
    returned as the crontab line itself.
    """
    if spec.get("type") == "interval":
        every_s = float(spec.get("every_s") or 0)
        for unit_s, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
            if every_s >= unit_s and every_s % unit_s == 0:
                n = int(every_s // unit_s)
                return f"Every {unit}" if n == 1 else f"Every {n} {unit}s"
        return f"Every {every_s:g} seconds"
    line = crontab_line(spec) or ""
    try:
        from cron_descriptor import Options, get_description

        opts = Options()
        opts.use_24hour_time_format = True
        return get_description(line, opts)
    except Exception:  # noqa: BLE001 - wording is a courtesy; the line itself is always right
        return line


def zone(tz: str | ZoneInfo) -> ZoneInfo:
    """`tz` as a ZoneInfo. Raises InvalidInput for an unknown IANA name."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown timezone {tz!r}: use an IANA name such as 'UTC' or "
                           f"'Europe/Paris' (setting TIMEZONE).") from None


def preview_next_runs(spec: dict[str, Any], n: int = 5, tz: str | ZoneInfo = "UTC",
                      now: datetime | None = None,
                      last_run_at: datetime | None = None) -> list[datetime]:
    """The next `n` times the schedule fires after `now`, as datetimes in `tz`.

    Crontab fields are read in `tz` — pass settings.TIMEZONE, which is Celery's ``timezone`` and so
    the zone beat uses. The times come from Celery's own crontab arithmetic (DST included), so they
    are the times beat will use. An interval's first run is `every_s` after `last_run_at` (a new
    entry: after `now`, as RedBeat counts from creation).

    Raises:
        InvalidInput: invalid schedule or unknown timezone.
    """
    tzinfo = zone(tz)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if spec.get("type") == "interval":
        sched = parse_schedule(spec)
        step = sched.run_every
        first = max((last_run_at or now) + step, now)  # overdue: due now
        return [(first + step * i).astimezone(tzinfo) for i in range(n)]
    parse_schedule(spec)  # validate with clear messages first
    app = Celery(set_as_current=False)
    app.conf.timezone = tzinfo.key
    cron = crontab(**cron_fields(spec), app=app, nowfun=lambda: now)
    out: list[datetime] = []
    last = now  # in UTC: Celery's arithmetic answers steadily from a UTC last run
    for _ in range(n):
        nxt = now + cron.remaining_estimate(last)
        for _ in range(120):  # around a DST change Celery may answer the same slot again
            if nxt > last:
                break
            last += timedelta(minutes=1)
            nxt = now + cron.remaining_estimate(last)
        out.append(nxt.astimezone(tzinfo))
        last = nxt
    return out


def spec_of(sched) -> dict[str, Any]:
    """The dict form of a Celery schedule object read back from RedBeat."""
    if isinstance(sched, crontab):
        return {"type": "crontab", "minute": sched._orig_minute, "hour": sched._orig_hour,
                "day_of_month": sched._orig_day_of_month, "month_of_year": sched._orig_month_of_year,
                "day_of_week": sched._orig_day_of_week}
    if isinstance(sched, interval_schedule):
        every_s = sched.run_every.total_seconds()
        return {"type": "interval", "every_s": int(every_s) if every_s.is_integer() else every_s}
    return {"type": type(sched).__name__, "repr": str(sched)}


def parse_json_args(text: str | None) -> list:
    """Positional args from JSON text ('' means none). Raises InvalidInput naming the problem."""
    value = _json(text, "Arguments", [])
    if not isinstance(value, list):
        raise InvalidInput("Arguments must be a JSON list, e.g. [\"weekly\", 7].")
    return value


def parse_json_kwargs(text: str | None) -> dict:
    """Keyword args from JSON text ('' means none). Raises InvalidInput naming the problem."""
    value = _json(text, "Keyword arguments", {})
    if not isinstance(value, dict):
        raise InvalidInput("Keyword arguments must be a JSON object, e.g. {\"days\": 7}.")
    return value


def _json(text: str | None, what: str, empty):
    if text is None or not text.strip():
        return empty
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{what} are not valid JSON: {exc}.") from None


def validate_name(name: str) -> str:
    """`name` stripped. Raises InvalidInput unless it is 1-80 letters, digits, space, ``_ . -``."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise InvalidInput("The entry name must be 1-80 characters: letters, digits, spaces, '_', "
                           "'.' or '-', starting with a letter or digit.")
    return name


def check_arguments(args: list | None, kwargs: dict | None) -> tuple[list, dict]:
    """`args` as a list and `kwargs` as a dict, checked to be JSON values with string keys.

    Raises:
        InvalidInput: a value JSON cannot hold (a set, an object) or a non-string keyword name.
    """
    args = list(args or [])
    kwargs = dict(kwargs or {})
    try:
        json.dumps([args, kwargs])
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Arguments must be JSON values: {exc}.") from None
    if any(not isinstance(k, str) for k in kwargs):
        raise InvalidInput("Keyword argument names must be strings.")
    return args, kwargs
