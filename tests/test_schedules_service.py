"""The schedules service against real Redis: validation, edits keeping history, run now.

The pure schedule checks and previews are in tests/test_schedule_spec.py (no Redis)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from app.errors import InvalidInput
from app.store import history
from app import schedules
from config.celery_config import celery_app
from tests.conftest import wait_for

HEALTH = "app.tasks.maintenance_tasks.health_check"
EVERY_MIN = {"type": "interval", "every_s": 60}


@pytest.fixture(autouse=True)
def no_entries():
    for e in schedules.list_entries(celery_app):
        schedules.delete_entry(celery_app, e.name)
    yield
    for e in schedules.list_entries(celery_app):
        schedules.delete_entry(celery_app, e.name)


def stored_definition(redis_client, name: str) -> dict:
    """The entry as RedBeat stored it, read with plain Redis commands."""
    return json.loads(redis_client.hget(f"redbeat:{name}", "definition"))


@pytest.mark.parametrize("spec, words", [
    ({"type": "crontab", "minute": "61"}, "minute '61'"),
    ({"type": "crontab", "minute": "0", "hour": "25"}, "hour '25'"),
    ({"type": "crontab", "day_of_week": "mon-funday"}, "day of week 'mon-funday'"),
    ({"type": "crontab", "minute": "*/0"}, "minute '*/0'"),
    ({"type": "crontab", "minute": ""}, "minute ''"),
    ({"type": "crontab", "month_of_year": "13"}, "month '13'"),
    ({"type": "crontab", "hour": "1;rm"}, "hour '1;rm'"),
    ({"type": "interval", "every_s": 0}, "between 1 s"),
    ({"type": "interval"}, "every_s"),
    ({"type": "weekly"}, "Unknown schedule type"),
])
def test_invalid_schedule_is_refused_with_the_field_named(spec, words, redis_client):
    with pytest.raises(InvalidInput, match=words.replace("*", r"\*")):
        schedules.save_entry(celery_app, "bad", HEALTH, spec)
    assert not redis_client.exists("redbeat:bad")


@pytest.mark.parametrize("kwargs, words", [
    ({"task": "app.tasks.nope.run"}, "Unknown task"),
    ({"queue": "fast_queue"}, "Unknown queue"),
    ({"name": ":schedule"}, "entry name"),
    ({"name": ""}, "entry name"),
    ({"args": [{1, 2}]}, "JSON values"),
])
def test_invalid_entry_is_refused_and_nothing_saved(kwargs, words, redis_client):
    call = {"name": "bad", "task": HEALTH, "schedule": EVERY_MIN, **kwargs}
    with pytest.raises(InvalidInput, match=words):
        schedules.save_entry(celery_app, **call)
    assert schedules.list_entries(celery_app) == []


def test_save_list_edit_keeps_history(redis_client):
    schedules.save_entry(celery_app, "weekly report", HEALTH,
                         {"type": "crontab", "minute": "0", "hour": "9", "day_of_week": "mon"},
                         args=[], kwargs={}, queue="default_queue")
    d = stored_definition(redis_client, "weekly report")
    assert d["task"] == HEALTH and d["enabled"] is True
    assert d["options"] == {"queue": "default_queue", "headers": {"cc_schedule": "weekly report"}}
    assert (d["schedule"]["minute"], d["schedule"]["hour"], d["schedule"]["day_of_week"]) == ("0", "9", "mon")
    [e] = schedules.list_entries(celery_app)
    assert e.crontab == "0 9 * * mon" and "09:00" in e.description and e.last_run_at is None
    assert e.next_run_at.astimezone(timezone.utc).weekday() == 0 and e.next_run_at.hour == 9

    # beat records a run in meta; an edit of the definition keeps it
    ran_at = datetime.now(timezone.utc) - timedelta(minutes=3)
    redis_client.hset("redbeat:weekly report", "meta", json.dumps({"last_run_at": {
        "__type__": "datetime", "year": ran_at.year, "month": ran_at.month, "day": ran_at.day,
        "hour": ran_at.hour, "minute": ran_at.minute, "second": ran_at.second, "microsecond": 0,
        "timezone": "UTC"}, "total_run_count": 7}))
    schedules.save_entry(celery_app, "weekly report", HEALTH, {"type": "interval", "every_s": 600})
    e = schedules.get_entry(celery_app, "weekly report")
    assert e.total_run_count == 7 and e.last_run_at == ran_at.replace(microsecond=0)
    assert e.next_run_at == (ran_at.replace(microsecond=0) + timedelta(minutes=10))
    assert stored_definition(redis_client, "weekly report")["schedule"]["every"] == 600


def test_disable_enable_delete(redis_client):
    schedules.save_entry(celery_app, "h", HEALTH, EVERY_MIN)
    assert schedules.set_enabled(celery_app, "h", False).next_run_at is None
    assert stored_definition(redis_client, "h")["enabled"] is False
    assert schedules.set_enabled(celery_app, "h", True).enabled
    assert stored_definition(redis_client, "h")["enabled"] is True
    schedules.delete_entry(celery_app, "h")
    assert not redis_client.exists("redbeat:h")
    assert redis_client.zscore("redbeat::schedule", "redbeat:h") is None
    with pytest.raises(InvalidInput, match="no schedule entry named 'h'"):
        schedules.delete_entry(celery_app, "h")


@pytest.mark.usefixtures("celery_worker")
def test_run_now_sends_the_task_with_its_queue(redis_client):
    schedules.save_entry(celery_app, "h", HEALTH, {"type": "interval", "every_s": 3600}, queue="default_queue")
    task_id = schedules.run_now(celery_app, "h")
    wait_for(lambda: (t := history.get_task(redis_client, task_id)) and t["state"] == "SUCCESS")
    t = history.get_task(redis_client, task_id)
    assert t["name"] == HEALTH and t["queue"] == "default_queue"
    assert schedules.get_entry(celery_app, "h").total_run_count == 0
