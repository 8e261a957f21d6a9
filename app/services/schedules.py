"""Beat schedule entries kept in Redis by RedBeat: create, edit, enable/disable, delete, run now.

RedBeat (celery-redbeat) stores each entry as the hash ``redbeat:<name>`` (fields ``definition``
and ``meta``) plus its due time in the sorted set ``redbeat::schedule``. The running beat reloads
due entries from Redis on every tick, so a change saved here takes effect on beat's next tick
(at most BEAT_MAX_LOOP_INTERVAL_S later) without a restart.

A schedule is given as a plain dict, the same shape the page and the reports engineer use:

- ``{'type': 'interval', 'every_s': 60}`` — every `every_s` seconds, counted from the last run
  (celery.schedules.schedule);
- ``{'type': 'crontab', 'minute': '0', 'hour': '*/2', 'day_of_week': '*', 'day_of_month': '*',
  'month_of_year': '*'}`` — Celery's crontab, read in Celery's ``timezone`` (settings.TIMEZONE).
  Celery matches day_of_month AND day_of_week (Unix cron ORs them when both are restricted).

This module is the one service allowed to import celery: its store is Celery's own scheduler.
Functions take the Celery app as a parameter and never keep a connection of their own.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery import Celery
from celery.schedules import ParseException, crontab, schedule as interval_schedule
from redbeat.decoder import RedBeatJSONEncoder
from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf, get_redis

from app.errors import InvalidInput
from app.store import beat as beat_marks

log = logging.getLogger(__name__)

#: Crontab fields in Unix order (minute hour day-of-month month day-of-week).
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
CRON_LABELS = {"minute": "minute", "hour": "hour", "day_of_month": "day of month",
               "month_of_year": "month", "day_of_week": "day of week"}
_CRON_CHARS = re.compile(r"^[0-9A-Za-z*,/\-]{1,64}$")
#: Entry names become Redis keys (``redbeat:<name>``): letters, digits, space, ``_ . -``.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,79}$")
MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 366 * 86_400


@dataclass(frozen=True)
class EntryInfo:
    """One schedule entry as the page lists it. Datetimes are timezone-aware (UTC).

    `schedule` is the dict form above; `description` the schedule in words; `crontab` the
    schedule as a crontab line (for an interval, the crontab that fires at the same rate, or None
    when there is none); `last_run_at` is None until beat has sent it once; `next_run_at` is None
    when disabled.
    """

    name: str
    task: str
    schedule: dict[str, Any]
    description: str
    crontab: str | None
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    queue: str | None = None
    enabled: bool = True
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    total_run_count: int = 0


# ---- schedule dicts: validate, describe, preview (pure) ------------------------------------------

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


# ---- entries in Redis ----------------------------------------------------------------------------

def registered_tasks(app: Celery) -> list[str]:
    """Names of the console's tasks registered on `app` (Celery's own ``celery.*`` left out)."""
    app.loader.import_default_modules()
    return sorted(n for n in app.tasks if not n.startswith("celery."))


def queue_names(app: Celery) -> list[str]:
    """The queues `app` declares (task_queues)."""
    return [q.name for q in (app.conf.task_queues or ())]


def save_entry(app: Celery, name: str, task: str, schedule: dict[str, Any], args: list | None = None,
               kwargs: dict | None = None, queue: str | None = None, enabled: bool = True,
               *, check_task: bool = True) -> EntryInfo:
    """Create the entry `name`, or replace its definition keeping its run history.

    An edit keeps ``last_run_at`` and ``total_run_count``, so a changed interval counts from the
    last run; beat picks the change up on its next tick. `queue` None means the task's route.

    Raises:
        InvalidInput: bad name, unknown task (not registered on `app`; `check_task=False` skips
            this for the default schedule seeded in beat), invalid schedule, args not a JSON list,
            kwargs not a JSON object, or an unknown queue.
        redis.RedisError: Redis cannot be reached.
    """
    name = validate_name(name)
    if check_task and task not in registered_tasks(app):
        raise InvalidInput(f"Unknown task {task!r}: pick one of the registered tasks "
                           f"(app.tasks.<family>_tasks.<name>).")
    sched = parse_schedule(schedule, app)
    args = list(args or [])
    kwargs = dict(kwargs or {})
    try:
        json.dumps([args, kwargs])
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Arguments must be JSON values: {exc}.") from None
    if any(not isinstance(k, str) for k in kwargs):
        raise InvalidInput("Keyword argument names must be strings.")
    if queue and queue not in queue_names(app):
        raise InvalidInput(f"Unknown queue {queue!r}: use one of {', '.join(queue_names(app))}.")
    ensure_conf(app)
    existing = _load(app, name)
    entry = RedBeatSchedulerEntry(name=name, task=task, schedule=sched, args=args, kwargs=kwargs,
                                  enabled=bool(enabled), options={"queue": queue} if queue else {},
                                  app=app,
                                  last_run_at=existing.last_run_at if existing else None,
                                  total_run_count=existing.total_run_count if existing else 0)
    entry.save()
    log.info("schedule entry %s saved: %s %s enabled=%s", name, task, spec_of(sched), enabled)
    return _info(entry)


def validate_name(name: str) -> str:
    """`name` stripped. Raises InvalidInput unless it is 1-80 letters, digits, space, ``_ . -``."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise InvalidInput("The entry name must be 1-80 characters: letters, digits, spaces, '_', "
                           "'.' or '-', starting with a letter or digit.")
    return name


def get_entry(app: Celery, name: str) -> EntryInfo | None:
    """The entry `name`, or None when there is none."""
    entry = _load(app, name)
    return _info(entry) if entry else None


def list_entries(app: Celery) -> list[EntryInfo]:
    """Every entry, sorted by name (one ZRANGE plus one pipelined read of each entry's hash).

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    conf = ensure_conf(app)
    client = get_redis(app)
    entry_keys = client.zrange(conf.schedule_key, 0, -1)
    out = []
    for key in entry_keys:
        try:
            out.append(_info(RedBeatSchedulerEntry.from_key(key, app=app)))
        except KeyError:
            continue  # deleted between the two reads
        except Exception as exc:  # noqa: BLE001 - one undecodable entry must not hide the others
            log.warning("schedule entry %s cannot be read: %s", key, exc)
    return sorted(out, key=lambda e: e.name.lower())


def delete_entry(app: Celery, name: str) -> None:
    """Remove the entry `name` (beat stops sending it on its next tick).

    A deleted default entry stays deleted: defaults are installed once (see `seed_defaults`).

    Raises:
        InvalidInput: there is no such entry.
    """
    entry = _load(app, name)
    if entry is None:
        raise InvalidInput(f"There is no schedule entry named {name!r}.")
    entry.delete()
    log.info("schedule entry %s deleted", name)


def set_enabled(app: Celery, name: str, enabled: bool) -> EntryInfo:
    """Enable or disable the entry `name`.

    Re-enabling counts the schedule from now: runs missed while disabled are not caught up (an
    interval next fires `every_s` from now, a crontab at its next slot).

    Raises:
        InvalidInput: there is no such entry.
    """
    entry = _load(app, name)
    if entry is None:
        raise InvalidInput(f"There is no schedule entry named {name!r}.")
    if enabled and not entry.enabled:
        entry.last_run_at = entry.default_now()
        meta = {"last_run_at": entry.last_run_at, "total_run_count": entry.total_run_count}
        get_redis(app).hset(entry.key, "meta", json.dumps(meta, cls=RedBeatJSONEncoder))
    entry.enabled = bool(enabled)
    entry.save()
    log.info("schedule entry %s %s", name, "enabled" if enabled else "disabled")
    return _info(entry)


def run_now(app: Celery, name: str) -> str:
    """Send the entry's task once now, with its args, kwargs and queue; returns the task id.

    The schedule is untouched (the run is not counted in total runs).

    Raises:
        InvalidInput: there is no such entry.
    """
    entry = _load(app, name)
    if entry is None:
        raise InvalidInput(f"There is no schedule entry named {name!r}.")
    result = app.send_task(entry.task, args=list(entry.args or []), kwargs=dict(entry.kwargs or {}),
                           **(entry.options or {}))
    log.info("schedule entry %s run now: %s", name, result.id)
    return result.id


def seed_defaults(app: Celery, defaults: dict[str, dict[str, Any]]) -> list[str]:
    """Install each default entry once; returns the names installed now.

    A name is installed the first time it is seen (``SADD cc:beat:seeded`` answers 1, so two beats
    starting together install it once) and only if no entry of that name exists. Afterwards the
    entry is the operator's: edits, disabling and deleting survive beat restarts, unlike RedBeat's
    own ``beat_schedule`` handling, which rewrites those entries on every start.

    `defaults` maps name -> ``{'task', 'schedule' (dict form), 'args'?, 'kwargs'?, 'queue'?,
    'enabled'?}``.
    """
    conf = ensure_conf(app)
    client = get_redis(app)
    if defaults:
        # Entries an older config installed as RedBeat statics become ordinary entries, so RedBeat
        # no longer deletes them when they leave beat_schedule.
        client.srem(conf.statics_key, *defaults)
    installed = []
    for name, spec in defaults.items():
        if not beat_marks.mark_seeded(client, name):
            continue
        if _load(app, name) is not None:
            continue
        try:
            save_entry(app, name, spec["task"], spec["schedule"], spec.get("args"), spec.get("kwargs"),
                       spec.get("queue"), spec.get("enabled", True), check_task=False)
        except InvalidInput as exc:
            beat_marks.unmark_seeded(client, name)
            log.error("default schedule entry %s not installed: %s", name, exc)
            continue
        installed.append(name)
    if installed:
        log.info("default schedule entries installed: %s", ", ".join(installed))
    return installed


def _load(app: Celery, name: str) -> RedBeatSchedulerEntry | None:
    ensure_conf(app)
    try:
        return RedBeatSchedulerEntry.from_key(RedBeatSchedulerEntry.generate_key(app, name), app=app)
    except KeyError:
        return None


def _info(entry: RedBeatSchedulerEntry) -> EntryInfo:
    spec = spec_of(entry.schedule)
    ran = bool(entry.total_run_count)
    next_run = _next_run(entry) if entry.enabled else None
    return EntryInfo(name=entry.name, task=entry.task, schedule=spec, description=describe(spec),
                     crontab=crontab_line(spec) if spec["type"] in ("crontab", "interval") else None,
                     args=list(entry.args or []), kwargs=dict(entry.kwargs or {}),
                     queue=(entry.options or {}).get("queue"), enabled=bool(entry.enabled),
                     last_run_at=_utc(entry.last_run_at) if ran else None,
                     next_run_at=_utc(next_run) if next_run else None,
                     total_run_count=int(entry.total_run_count or 0))


def _next_run(entry: RedBeatSchedulerEntry) -> datetime | None:
    """When beat sends the entry next: Celery's ``now + remaining_estimate(last_run_at)``, or now
    when overdue (RedBeat's own ``due_at`` adds the estimate to last_run_at, which drifts)."""
    now = entry.default_now()
    if entry.last_run_at is None:
        return now
    remaining = entry.schedule.remaining_estimate(entry.last_run_at)
    if remaining is None:
        return None
    nxt = max(now + remaining, now) + timedelta(milliseconds=500)  # to the nearest second
    return nxt.replace(microsecond=0)


def _utc(dt: datetime) -> datetime:
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
