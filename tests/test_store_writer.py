"""The store's writer interface for a second writer (no Celery signals): `record(StateChange)`.

Changes arrive out of order (a Celery-events ingester lagging behind the signal adapter, a late
publisher): the state follows the newest timestamp, older changes only add fields and timeline
entries.
"""
from __future__ import annotations

import time
import uuid

import pytest

from app.store import history
from app import runtime
from app.store.history import TaskFilter
from app.store.writer import StateChange

pytestmark = pytest.mark.usefixtures("celery_app")  # configures the writer from settings


def test_record_keeps_the_newest_state_whatever_the_arrival_order(redis_client):
    tid, name = uuid.uuid4().hex, f"ingest.{uuid.uuid4().hex[:8]}"
    t0 = time.time() - 10
    runtime.get().writer.record(StateChange(tid, "STARTED", t0 + 1, name=name, queue="default_queue", worker="w1@h"))
    runtime.get().writer.record(StateChange(tid, "SUCCESS", t0 + 2, name=name, worker="w1@h", runtime_s=1.0,
                              result='"ok"'))
    runtime.get().writer.record(StateChange(tid, "RECEIVED", t0 + 0.5, name=name, worker="w1@h"))  # late
    runtime.get().writer.record(StateChange(tid, "SENT", t0, name=name, queue="default_queue", args='["a.pdf"]',
                              kwargs="{}", retries=0))  # latest of all to arrive
    assert runtime.get().writer.flush()

    task = history.get_task(redis_client, tid)
    assert task["state"] == "SUCCESS"
    assert task["result"] == '"ok"' and task["args"] == '["a.pdf"]'
    assert (task["sent_at"], task["received_at"], task["started_at"], task["finished_at"]) == \
        pytest.approx((t0, t0 + 0.5, t0 + 1, t0 + 2))
    assert [e["state"] for e in history.timeline(redis_client, tid)] == ["SENT", "RECEIVED", "STARTED", "SUCCESS"]
    assert [t["id"] for t in history.list_tasks(redis_client, TaskFilter(state="SUCCESS", name=name))] == [tid]
    for state in ("SENT", "RECEIVED", "STARTED"):
        assert history.list_tasks(redis_client, TaskFilter(state=state, name=name)) == []
    assert [t["id"] for t in history.list_tasks(redis_client, TaskFilter(search="a.pdf", name=name))] == [tid]


def test_sync_record_and_equal_times_apply_in_arrival_order(redis_client):
    tid, now = uuid.uuid4().hex, time.time()
    runtime.get().writer.record(StateChange(tid, "STARTED", now, name="ingest.same"), sync=True)
    runtime.get().writer.record(StateChange(tid, "FAILURE", now, name="ingest.same", exception="ValueError: x",
                              info="ValueError: x"), sync=True)
    task = history.get_task(redis_client, tid)
    assert task["state"] == "FAILURE" and task["exception"] == "ValueError: x"
    assert history.timeline(redis_client, tid)[-1] == {"state": "FAILURE", "at": now, "info": "ValueError: x"}


def test_hash_fields_of_a_change():
    change = StateChange("t1", "SUCCESS", 12.5, runtime_s=0.5, result="1", fields={"pid": 7})
    assert change.hash_fields() == {"finished_at": 12.5, "runtime_s": 0.5, "result": "1", "pid": 7}
    assert StateChange("t1", "PROGRESS", 3.0).hash_fields() == {}


def test_a_full_word_index_keeps_its_newest_ids_and_older_tasks_are_still_found_by_text(redis_client, monkeypatch):
    from app.store import keys, tokens

    monkeypatch.setattr(tokens, "WORD_INDEX_MAX", 5)  # read by the writer's batch header and the reader
    common, t0 = "zebra" + uuid.uuid4().hex[:8], time.time()
    ids = [uuid.uuid4().hex for _ in range(8)]
    for i, tid in enumerate(ids):
        text = f'["{common}", "only-{tid[:12]}"]'
        runtime.get().writer.record(StateChange(tid, "SENT", t0 + i, name="words.cap", args=text, kwargs="{}"))
    assert runtime.get().writer.flush()
    assert redis_client.zrevrange(keys.word_index(common), 0, -1) == ids[:2:-1]  # the newest 5, newest first
    assert 0 < redis_client.ttl(keys.word_index(common)) <= 7 * 86_400
    # the common word alone lists its newest 5; with a rarer word the oldest task is found by its text
    assert [t["id"] for t in history.list_tasks(redis_client, TaskFilter(search=common))] == ids[:2:-1]
    assert [t["id"] for t in history.list_tasks(redis_client, TaskFilter(search=f"{common} only-{ids[0][:12]}"))] == [ids[0]]
    assert history.list_tasks(redis_client, TaskFilter(search=f"{common} only-{ids[0][:12]}x")) == []
