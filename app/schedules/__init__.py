"""Beat schedule entries kept in Redis by RedBeat: create, edit, enable/disable, delete, run now.

RedBeat (celery-redbeat) stores each entry as the hash ``redbeat:<name>`` (fields ``definition``
and ``meta``) plus its due time in the sorted set ``redbeat::schedule``. The running beat reloads
due entries from Redis on every tick, so a change saved here takes effect on beat's next tick
(at most BEAT_MAX_LOOP_INTERVAL_S later) without a restart.

Schedules are the dicts of `app.schedules.schedule_spec` (parsed, described and previewed there,
without Redis). This module is the one service allowed to import redbeat: its store is Celery's own
scheduler. Functions take the Celery app as a parameter and never keep a connection of their own.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from celery import Celery
from redbeat.decoder import RedBeatJSONEncoder
from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf, get_redis

from app import priority
from app.errors import InvalidInput
from app.schedules.schedule_spec import (check_arguments, crontab_line, describe, parse_schedule, spec_of,
                                        validate_name)
from app.store import beat as beat_marks
from app.store.headers import SCHEDULE_HEADER

log = logging.getLogger(__name__)


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
    args, kwargs = check_arguments(args, kwargs)
    if queue and queue not in queue_names(app):
        raise InvalidInput(f"Unknown queue {queue!r}: use one of {', '.join(queue_names(app))}.")
    ensure_conf(app)
    existing = _load(app, name)
    # The header names the entry on each message beat sends, so the history knows which run
    # belongs to which entry (app.monitor.schedule_health).
    options = {"headers": {SCHEDULE_HEADER: name}, **({"queue": queue} if queue else {})}
    entry = RedBeatSchedulerEntry(name=name, task=task, schedule=sched, args=args, kwargs=kwargs,
                                  enabled=bool(enabled), options=options,
                                  app=app,
                                  last_run_at=existing.last_run_at if existing else None,
                                  total_run_count=existing.total_run_count if existing else 0)
    entry.save()
    log.info("schedule entry %s saved: %s %s enabled=%s", name, task, spec_of(sched), enabled)
    return _info(entry)


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


def due_times(app: Celery) -> dict[str, float]:
    """Entry name -> the score RedBeat's schedule gives it (epoch s of its next run; -1 when it has
    no more runs), for every entry in the schedule: one ZRANGE of ``redbeat::schedule``."""
    conf = ensure_conf(app)
    prefix = conf.key_prefix
    return {key[len(prefix):]: float(score)
            for key, score in get_redis(app).zrange(conf.schedule_key, 0, -1, withscores=True)
            if key.startswith(prefix)}


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

    The task goes at the entry's own ``priority`` option when it has one, else at the console's
    "normal" level translated for the broker (`app.priority.for_app`), so a run started here
    queues in the same order on Redis and on RabbitMQ.

    The schedule is untouched (the run is not counted in total runs).

    Raises:
        InvalidInput: there is no such entry.
    """
    entry = _load(app, name)
    if entry is None:
        raise InvalidInput(f"There is no schedule entry named {name!r}.")
    options = {"priority": priority.for_app(app, priority.DEFAULT_LEVEL), **(entry.options or {})}
    result = app.send_task(entry.task, args=list(entry.args or []), kwargs=dict(entry.kwargs or {}), **options)
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


def keep_interval(app: Celery, name: str, every_s: float) -> bool:
    """Set the interval of entry `name` to `every_s` when it has another one (a setting such as
    ALERT_EVAL_INTERVAL_S owns that entry's period); True when it changed. A missing entry (the
    operator deleted it) stays missing.
    """
    entry = _load(app, name)
    if entry is None or spec_of(entry.schedule) == {"type": "interval", "every_s": every_s} or \
            spec_of(entry.schedule).get("every_s") == every_s:
        return False
    save_entry(app, name, entry.task, {"type": "interval", "every_s": every_s}, list(entry.args or []),
               dict(entry.kwargs or {}), (entry.options or {}).get("queue"), entry.enabled, check_task=False)
    return True


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
