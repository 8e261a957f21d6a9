"""Missed / late / failing schedule entries, detected against a real beat and worker, and the
schedule_missed rule evaluated by the periodic evaluate_alerts task that beat sends."""
from __future__ import annotations

import json
import time
import uuid

import pytest
from redbeat.schedulers import RedBeatSchedulerEntry
from streamlit.testing.v1 import AppTest

from app.alerts import engine, rules
from app.alerts.rules import Rule
from app.monitor import schedule_health
from app.monitor.brokers import redis_lists
from app.store import keys
from app import schedules
from config.celery_config import celery_app
from tests.conftest import ROOT, wait_for
from tests.test_alerts import alert_probe, clean_alerts  # noqa: F401 - the probe task and fixture
from tests.test_schedules_beat import Beats, clear_entries, lock_key, started

pytestmark = pytest.mark.usefixtures("celery_worker")


def test_classify_states():
    c = schedule_health.classify
    assert c("e", True, 100.0, None, None, 10, now=200).status == "missed"          # beat did not send
    assert "is beat running" in c("e", True, 100.0, None, None, 10, now=200).detail
    sent = {"state": "SENT", "sent_at": "150", "queue": "q"}
    assert c("e", True, 300.0, "t", sent, 10, now=200).status == "missed"           # sent, never started
    assert c("e", True, 300.0, "t", sent, 60, now=200).status == "waiting"          # within grace
    late = {"state": "SUCCESS", "sent_at": "100", "started_at": "180"}
    assert c("e", True, 300.0, "t", late, 10, now=200).status == "late"
    assert c("e", True, 300.0, "t", {**late, "started_at": "101"}, 10, now=200).status == "ok"
    assert c("e", True, 300.0, "t", {"state": "FAILURE", "sent_at": "1", "started_at": "2",
                                      "exception": "ValueError: x"}, 10, now=200).status == "failing"
    assert c("e", False, 100.0, None, None, 10, now=200).status == "disabled"


def test_never_running_schedule_is_missed_alerted_by_beat_and_recovers(tmp_path, redis_client, clean_alerts,
                                                                         mail_settings):
    mail_settings(ALERT_EVAL_INTERVAL_S="1", ALERT_EMAIL_TO=None, ALERT_WEBHOOK_URL=None, SCHEDULE_GRACE_S="2")
    clear_entries()
    nobody = f"nobody_{uuid.uuid4().hex[:6]}"  # a queue no worker consumes
    # created through RedBeat directly: the page only offers declared queues
    RedBeatSchedulerEntry("never-runs", "tests.alert_probe", schedules.parse_schedule({"type": "interval", "every_s": 1}),
                          options={"queue": nobody, "headers": {schedules.SCHEDULE_HEADER: "never-runs"}},
                          app=celery_app).save()
    schedules.save_entry(celery_app, "runs-fine", "tests.alert_probe", {"type": "interval", "every_s": 1})
    schedules.save_entry(celery_app, "fails", "tests.alert_probe", {"type": "interval", "every_s": 1},
                         kwargs={"fail": True})
    schedules.save_entry(celery_app, "evaluate-alerts", "app.tasks.alert_tasks.evaluate_alerts",
                         {"type": "interval", "every_s": 1})
    rule = rules.save(redis_client, Rule(id="sched", name="Missed runs", kind="schedule_missed",
                                         params={"entry": "*", "grace_s": 2, "include_failing": True},
                                         recovery_message="all schedules on time"))
    beats = Beats(tmp_path)
    try:
        started(beats, redis_client)

        firing = wait_for(lambda: [f for f in engine.firing(redis_client) if f["rule_id"] == "sched"
                                   and "never-runs" in f["subjects"] and "fails" in f["subjects"]], timeout_s=40)
        subjects = firing[0]["subjects"]
        assert subjects["never-runs"].startswith("missed") and nobody in subjects["never-runs"]
        assert subjects["fails"].startswith("failing") and "runs-fine" not in subjects
        health = schedule_health.check(celery_app, redis_client, grace_s=2)
        assert health["runs-fine"].status in ("ok", "running") and health["runs-fine"].last_task_id
        assert health["never-runs"].status == "missed"
        at = AppTest.from_file(str(ROOT / "pages" / "schedules.py"), default_timeout=30).run()
        assert not at.exception
        assert any("never-runs" in w.value and "missed" in w.value for w in at.warning)
        schedules.delete_entry(celery_app, "never-runs")
        schedules.delete_entry(celery_app, "fails")
        wait_for(lambda: not [f for f in engine.firing(redis_client) if f["rule_id"] == "sched"], timeout_s=30)
        statuses = [json.loads(redis_client.hget(keys.alert_event(i), "subjects") or "{}") and
                    redis_client.hget(keys.alert_event(i), "status")
                    for i in redis_client.zrange(keys.ALERT_EVENTS, 0, -1)]
        assert statuses[-1] == "resolved" and "fired" in statuses
        assert rule.id in redis_client.hkeys(keys.ALERT_STATE)
    finally:
        for p in beats.procs:
            beats.stop(p)
        clear_entries()
        redis_client.delete(lock_key())
        redis_lists.purge(redis_client, nobody)
        time.sleep(0.2)


def test_a_fresh_send_does_not_hide_that_the_last_finished_run_failed():
    now = 1_000.0
    fresh = {"state": "SENT", "sent_at": str(now - 0.2)}
    failed = {"state": "FAILURE", "exception": "ValueError: boom", "sent_at": str(now - 1.2)}
    h = schedule_health.classify("e", True, now + 0.8, "new-id", fresh, 2.0, now, previous=failed)
    assert h.status == "failing" and "ValueError: boom" in h.detail and h.last_task_id == "new-id"
    ok = schedule_health.classify("e", True, now + 0.8, "new-id", fresh, 2.0, now, previous={"state": "SUCCESS"})
    assert ok.status == "ok"
    first = schedule_health.classify("e", True, now + 0.8, "new-id", fresh, 2.0, now)
    assert first.status == "waiting"  # no run has finished yet
    # a newest run that finished decides on its own
    done = schedule_health.classify("e", True, now + 0.8, "new-id", {"state": "SUCCESS", "sent_at": str(now - 0.2)},
                                    2.0, now, previous=failed)
    assert done.status == "ok"
