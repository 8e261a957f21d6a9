"""AppTest for the Task Monitor's tabs: task detail, confirmed actions with audit, stuck diagnosis."""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from app.access import audit
from app.store import history
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")
PAGE = str(ROOT / "pages" / "task_monitor.py")


def test_detail_retry_needs_confirmation_and_is_audited(celery_app, redis_client):
    r = celery_app.send_task("app.tasks.maintenance_tasks.health_check")
    r.get(timeout=30)
    wait_for(lambda: (history.get_task(redis_client, r.id) or {}).get("state") == "SUCCESS")
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["mon_selected_task"] = r.id
    at.run()
    assert not at.exception, at.exception
    where = next(df.value for df in at.dataframe if "task id" in df.value.columns)
    assert where.iloc[0]["queue"] == "default_queue" and where.iloc[0]["task id"] == r.id  # never cut
    assert any(re.search(r"^  \"status\": \"\w+\",$", c.value, re.M) for c in at.code)  # one key per line
    retry = next(b for b in at.button if b.label == "Retry with same args")
    retry.click().run()
    assert history.get_task(redis_client, r.id).get("retried_as") is None  # nothing before confirming
    assert any("Confirm" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Confirm").click().run()
    assert not at.exception
    new_id = wait_for(lambda: history.get_task(redis_client, r.id).get("retried_as"))
    assert any(s.value.startswith("Retry") for s in at.success)
    entry = audit.recent(redis_client, 1)[0]
    assert entry["action"] == "retry" and entry["target"] == r.id and entry["detail"]["new_id"] == new_id
    at.run()
    audit_frames = [df.value for df in at.dataframe if "action" in df.value.columns]
    assert audit_frames and audit_frames[0].iloc[0]["target"] == r.id


def test_cancel_leaves_everything_alone(redis_client):
    before = len(audit.recent(redis_client, 10_000))
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    purge = next(b for b in at.button if b.label == "Purge queue…")
    purge.click().run()
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert not at.exception
    assert len(audit.recent(redis_client, 10_000)) == before


def test_why_stuck_tab_explains_unknown_id():
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    at.text_input(key="diag_id").input("0000-not-a-task").run()
    assert not at.exception
    assert any("never seen" in i.value for i in at.info)


def test_overview_charts_throughput_runtimes_and_queue_depth(celery_app, redis_client):
    import time

    from app.store import queue_history

    celery_app.send_task("app.tasks.maintenance_tasks.health_check").get(timeout=30)
    now = time.time()
    for i, ready in enumerate((4, 2, 0)):
        queue_history.record(redis_client, {"default_queue": ready}, {"default_queue": ["w@h"]},
                             retention_s=3600, now=now - 120 + 60 * i)
    wait_for(lambda: history.runtime_percentiles(redis_client, ["app.tasks.maintenance_tasks.health_check"]))
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    charts = at.get("plotly_chart")
    titles = " ".join(str(c.proto.spec) for c in charts)
    assert len(charts) >= 3
    assert "Finished tasks per minute" in titles and "Runtime p50" in titles and "Queue depth" in titles


def _tasks_frame(at):
    return next(df.value for df in at.dataframe if {"id", "state", "result"} <= set(df.value.columns))


def _finished(celery_app, redis_client, name: str) -> str:
    r = celery_app.send_task(name)
    r.get(timeout=30)
    wait_for(lambda: (history.get_task(redis_client, r.id) or {}).get("state") == "SUCCESS")
    return r.id


def test_why_stuck_opens_its_tab_with_the_task_id(celery_app, redis_client):
    task_id = _finished(celery_app, redis_client, "app.tasks.maintenance_tasks.health_check")
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["mon_selected_task"] = task_id
    at.run()
    next(b for b in at.button if b.label == "Why is it stuck?").click().run()
    assert not at.exception, at.exception
    assert at.text_input(key="diag_id").value == task_id
    assert at.session_state["mon_tab"] == "Why stuck?"
    assert any("History state **SUCCESS**" in m.value for m in at.markdown)  # the diagnosis ran


def test_housekeeping_tasks_are_hidden_until_asked_for_and_search_matches_names(celery_app, redis_client):
    mine = _finished(celery_app, redis_client, "app.tasks.maintenance_tasks.health_check")
    chore = _finished(celery_app, redis_client, "app.tasks.maintenance_tasks.monitor_queue_sizes")
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    ids = set(_tasks_frame(at)["id"])
    assert mine in ids and chore not in ids
    at.checkbox(key="mon_housekeeping").check().run()
    assert {mine, chore} <= set(_tasks_frame(at)["id"])
    at.checkbox(key="mon_housekeeping").uncheck()
    at.text_input(key="mon_search").input("HEALTH_ch").run()  # part of the task's name, any case
    assert not at.exception
    found = _tasks_frame(at)
    assert mine in set(found["id"]) and set(found["name"]) == {"app.tasks.maintenance_tasks.health_check"}


def test_selection_follows_the_task_id_when_new_rows_arrive(celery_app, redis_client):
    first = _finished(celery_app, redis_client, "app.tasks.maintenance_tasks.health_check")
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    key, ids = at.session_state["mon_table_ids"]
    row = ids.index(first)
    newer = [_finished(celery_app, redis_client, "app.tasks.maintenance_tasks.health_check") for _ in range(2)]
    at.session_state[key] = {"selection": {"rows": [row], "columns": [], "cells": []}}  # the click, as the browser sends it
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["mon_selected_task"] == first  # not the new task now at that row
    _, shown = at.session_state["mon_table_ids"]
    assert shown[row] != first and set(newer) <= set(shown)
    assert any(first in str(df.value.get("task id", [""])[0]) for df in at.dataframe if "task id" in df.value.columns)


def test_charts_are_sized_for_their_rows_and_read_in_clock_time(celery_app, redis_client):
    import json
    import time

    from app.store import queue_history
    from app.ui import monitor_charts

    _finished(celery_app, redis_client, "app.tasks.maintenance_tasks.health_check")
    queue_history.record(redis_client, {"default_queue": 0}, {"default_queue": ["w@h"]}, retention_s=3600,
                         now=time.time())  # one sample, all zero: the case that showed ms ticks and -1..1
    wait_for(lambda: history.runtime_percentiles(redis_client, ["app.tasks.maintenance_tasks.health_check"]))
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    specs = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    by_title = {s["layout"]["title"]["text"].split(" (")[0]: s["layout"] for s in specs.values()}
    runtime = by_title["Runtime p50 / p95 per task"]
    rows = len(history.runtime_percentiles(redis_client, history.task_names(redis_client)))
    assert runtime["height"] == monitor_charts.runtime_height(rows) >= monitor_charts.MIN_HEIGHT_PX
    assert runtime["yaxis"]["automargin"] is True  # task names get the room they need
    depth = by_title["Queue depth"]
    assert depth["xaxis"]["type"] == "date" and depth["xaxis"]["tickformat"] == "%H:%M"
    assert depth["yaxis"]["range"][0] == 0 and depth["yaxis"]["range"][1] >= 1
    assert by_title["Finished tasks per minute"]["xaxis"]["tickformat"] == "%H:%M"


def test_the_queue_choice_shows_only_for_consumer_actions():
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert at.selectbox(key="wa_action").value == "pool grow"
    assert not any(s.key == "wa_queue" for s in at.selectbox)  # a pool change applies to no queue
    at.selectbox(key="wa_action").select("add consumer").run()
    assert not at.exception, at.exception
    assert any(s.key == "wa_queue" for s in at.selectbox)
