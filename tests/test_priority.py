"""The console's one priority scale: the mapping per broker, the form widget's refusals, Redis depth
counts with configured priority steps, real workers running high before normal before low after a
paused queue is resumed on Redis and on RabbitMQ, and the console's own re-sends at the normal level."""
from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from celery import Celery

from app import priority, runtime
from app.access import Identity, Role
from app.errors import EtaTooFar, InvalidInput
from app.monitor import actions, brokers, workers
from app.store import history, pauses
from app.ui import timing
from tests.conftest import wait_for
from tests.fixtures_brokers import amqp_app, start_worker_process, stop_process

REDIS = "redis://127.0.0.1:6379/0"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def test_levels_map_to_each_brokers_order():
    table = {level: (priority.to_broker(level, REDIS), priority.to_broker(level, AMQP, 10))
             for level in ("high", "normal", "low")}
    assert table == {"high": (0, 9), "normal": (5, 4), "low": (9, 0)}
    for n in range(10):  # round trip on both brokers
        assert priority.from_broker(priority.to_broker(n, REDIS), REDIS) == n
        assert priority.from_broker(priority.to_broker(n, AMQP, 10), AMQP, 10) == n
    # a smaller x-max-priority is scaled onto, never past, the queues' maximum
    assert [priority.to_broker(n, AMQP, 5) for n in (0, 5, 9)] == [5, 2, 0]
    assert priority.label(0) == "high (0)" and priority.label(3) == "3"


@pytest.mark.parametrize("bad", ["urgent", 10, -1, "", None, True])
def test_off_scale_priority_is_refused(bad):
    with pytest.raises(InvalidInput, match="0 \\(highest\\) to 9 \\(lowest\\)"):
        priority.number_of(bad)


def test_widget_refuses_a_delay_beyond_the_visibility_timeout(celery_app):
    vt = celery_app.conf.broker_transport_options["visibility_timeout"]
    too_far = timing.Choice(priority=0, mode=timing.AFTER, after=vt / 60 + 1, unit="minutes")
    with pytest.raises(EtaTooFar, match="Not queued.*VISIBILITY_TIMEOUT_S.*run twice"):
        too_far.options(celery_app)
    now = datetime.now(timezone.utc)
    late = now + timedelta(seconds=vt + 120)
    with pytest.raises(EtaTooFar):
        timing.Choice(priority=5, mode=timing.AT, day=late.date(), at=late.time(), tz="UTC").options(celery_app, now)
    past = now - timedelta(hours=1)
    with pytest.raises(InvalidInput, match="already passed"):
        timing.Choice(priority=5, mode=timing.AT, day=past.date(), at=past.time(), tz="UTC").options(celery_app, now)
    with pytest.raises(InvalidInput, match="above 0"):
        timing.Choice(priority=5, mode=timing.AFTER, after=0).options(celery_app)
    ok = timing.Choice(priority=0, mode=timing.AFTER, after=90, unit="seconds").options(celery_app)
    assert ok == {"priority": 0, "countdown": 90.0}
    # Run at is read in the operator's zone and sent in UTC
    # (two hours ahead whatever the time of day, as Tokyo's wall clock shows it: within the timeout)
    target = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    tokyo = target.astimezone(ZoneInfo("Asia/Tokyo"))
    local = timing.Choice(priority=9, mode=timing.AT, day=tokyo.date(), at=tokyo.time().replace(tzinfo=None),
                          tz="Asia/Tokyo").options(celery_app, now)
    assert local["eta"].utcoffset() == timedelta(0) and local["eta"] == target and local["priority"] == 9
    assert "VISIBILITY_TIMEOUT_S" in timing.rule_text(celery_app)


def test_rabbitmq_app_gets_mirrored_values_and_no_visibility_limit(celery_app):
    app = amqp_app(celery_app, AMQP)
    try:
        far = timing.Choice(priority=0, mode=timing.AFTER, after=24, unit="hours").options(app)
        assert far == {"priority": 9, "countdown": 86400.0}
        assert "consumer_timeout" in timing.rule_text(app)
    finally:
        app.close()


def test_custom_priority_steps_are_counted(celery_app, redis_client, redis_url):
    """An app publishing with priority_steps 0..9 spreads messages over ten lists; the depth read
    with the app's own steps sees them all, kombu's default steps miss some."""
    app = Celery("steps", set_as_current=False)
    app.conf.update({k: v for k, v in celery_app.conf.changes.items()})
    app.conf.broker_url = redis_url
    app.conf.broker_transport_options = {**celery_app.conf.broker_transport_options,
                                         "priority_steps": list(range(10))}
    q = f"steps_{uuid.uuid4().hex[:8]}"
    try:
        for n in (0, 1, 2, 4, 5, 7, 9):
            app.send_task("app.tasks.maintenance_tasks.health_check", queue=q, priority=n)
        assert priority.redis_steps(app) == tuple(range(10))
        own = brokers.for_app(app)
        assert own.depths([q]).ready == {q: 7}
        assert brokers.from_url(redis_url).depths([q]).ready[q] == 2  # kombu's default lists: 0 and 9 only
        assert len(own.head(q, 10)) == 7
        assert own.purge(q) == 7 and own.depths([q]).ready == {q: 0}
    finally:
        app.close()


ADMIN = Identity("prio-admin", Role.ADMIN, "127.0.0.1", "accounts")
HEALTH = "app.tasks.maintenance_tasks.health_check"


def _consuming(client, prefix: str, queue: str) -> bool:
    w = next((w for w in workers.list_workers(client, offline_after_s=3) if w.hostname.startswith(prefix)), None)
    return bool(w and w.online and queue in w.queues)


def _runs_high_first(app, env: dict, redis_client):
    """A worker (concurrency 1, prefetch 1) consumes a fresh queue; the queue is paused with the
    console's own action, low, normal and high are sent, the queue is resumed: the history's start
    times give the order the worker ran them."""
    q = f"prio_{uuid.uuid4().hex[:8]}"
    name = f"prio{uuid.uuid4().hex[:6]}"
    proc = start_worker_process(dict(env, WORKER_HEARTBEAT_S="0.5"), q, name, concurrency=1)
    ids = {}
    try:
        wait_for(lambda: proc.poll() is None and _consuming(redis_client, f"{name}@", q), timeout_s=60)
        actions.pause_queue(app, redis_client, q, ADMIN, [q])
        wait_for(lambda: not _consuming(redis_client, f"{name}@", q), timeout_s=20)
        for level in ("low", "normal", "high"):
            options = timing.Choice(priority=priority.LEVELS[level]).options(app)
            ids[level] = app.send_task(HEALTH, queue=q, **options).id
        sent = {level: history.get_task(redis_client, i) for level, i in wait_for(
            lambda: all(history.get_task(redis_client, i) for i in ids.values()) and ids).items()}
        assert {lvl: int(t["priority"]) for lvl, t in sent.items()} == \
            {lvl: priority.for_app(app, lvl) for lvl in ids}
        time.sleep(1.5)  # a paused queue is not consumed
        runtime.get().writer.flush()
        assert {history.get_task(redis_client, i)["state"] for i in ids.values()} == {"SENT"}
        actions.resume_queue(app, redis_client, q, ADMIN)
        done = wait_for(lambda: (ts := [history.get_task(redis_client, i) for i in ids.values()]) and all(
            t.get("state") == "SUCCESS" for t in ts) and ts, timeout_s=60)
    finally:
        stop_process(proc)
        pauses.resume(redis_client, q)
    order = [lvl for _, lvl in sorted((t["started_at"], lvl) for t, lvl in zip(done, ids))]
    assert order == ["high", "normal", "low"]


def test_high_runs_first_after_resume_on_redis(celery_app, redis_client, redis_url, data_dir):
    _runs_high_first(celery_app, dict(os.environ, REDIS_URL=redis_url, DATA_DIR=str(data_dir)), redis_client)


def test_high_runs_first_after_resume_on_rabbitmq(celery_app, rabbitmq, redis_client, redis_url, data_dir):
    app = amqp_app(celery_app, rabbitmq.amqp_url)
    env = dict(os.environ, CELERY_BROKER_URL=rabbitmq.amqp_url, REDIS_URL=redis_url, DATA_DIR=str(data_dir))
    try:
        _runs_high_first(app, env, redis_client)
    finally:
        app.close()


def test_console_resends_at_the_recorded_or_the_normal_priority(celery_app, celery_worker, redis_client):
    """Retry keeps the priority the original message carried; a task sent without one (a direct
    Celery caller) is retried, and a schedule entry run now, at the console's normal level."""
    from app import schedules

    low = celery_app.send_task(HEALTH, priority=priority.for_app(celery_app, "low"))
    bare = celery_app.send_task(HEALTH)
    for r in (low, bare):
        r.get(timeout=30)
    wait_for(lambda: all((history.get_task(redis_client, r.id) or {}).get("state") == "SUCCESS" for r in (low, bare)))
    assert history.get_task(redis_client, bare.id).get("priority") in (None, "")
    again = {r.id: actions.retry(celery_app, redis_client, r.id, ADMIN)["new_id"] for r in (low, bare)}
    entry = f"prio-run-now-{uuid.uuid4().hex[:6]}"
    schedules.save_entry(celery_app, entry, HEALTH, {"type": "interval", "every_s": 3600}, enabled=False)
    try:
        now_id = schedules.run_now(celery_app, entry)
    finally:
        schedules.delete_entry(celery_app, entry)
    new = [again[low.id], again[bare.id], now_id]
    for i in new:
        celery_app.AsyncResult(i).get(timeout=30)
    runtime.get().writer.flush()
    got = wait_for(lambda: all((history.get_task(redis_client, i) or {}).get("priority") not in (None, "")
                               for i in new) and [int(history.get_task(redis_client, i)["priority"]) for i in new])
    assert got == [9, 5, 5]
    assert actions.resend_priority(amqp_app(celery_app, "amqp://guest@127.0.0.1//"), {}) == 4
