"""Faults injected into the real stack (`python -m app` under supervisord) and what they must do.

Each test adds a row to the scenario table printed at the end (var/faults.json): deliveries (how
often a task reached a worker), side effects (messages that reached the SMTP server), and time to
recover where it applies. Order matters only for the last test, which stops and restarts the stack.
"""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter

import pytest
from kombu import Connection, Exchange, Producer

from app.errors import EtaTooFar
from tests.conftest import wait_for
from tests.faults.conftest import http_status

pytestmark = pytest.mark.faults
SEND = "app.tasks.email_tasks.send_email"
FINAL = ("SUCCESS", "FAILURE", "REVOKED")


def send(stack, subject: str, to: str = "ops@example.test", body: str = "hello", **options):
    return stack.app.send_task(SEND, kwargs=dict(to_email=to, subject=subject, body=body), **options)


def state(stack, task_id: str) -> str:
    return stack.app.AsyncResult(task_id).state


def result(stack, task_id: str):
    raw = stack.client.get(f"celery-task-meta-{task_id}")
    return json.loads(raw) if raw else {}


def finished(stack, ids, timeout_s: float = 60) -> dict[str, str]:
    wait_for(lambda: all(state(stack, i) in FINAL for i in ids), timeout_s, 0.2)
    return {i: state(stack, i) for i in ids}


def deliveries(stack, task_id: str) -> int:
    return sum(int(v) for v in stack.client.hgetall(f"cc:deliveries:{task_id}").values())


def queue_empty(stack, queue: str = "email_queue") -> bool:
    return stack.client.llen(queue) == 0 and stack.client.hlen("unacked") == 0


def health_check_ok(stack, timeout_s: float = 60) -> float:
    t0 = time.monotonic()
    r = stack.app.send_task("app.tasks.maintenance_tasks.health_check")
    finished(stack, [r.id], timeout_s)
    return time.monotonic() - t0


def test_hostile_messages_are_refused_and_the_worker_stays_up(stack, faults_table):
    pid = stack.pid("workers:worker_email")
    exchange = Exchange("tasks", type="direct")
    with Connection(stack.redis_url) as conn:
        producer = Producer(conn.channel(), exchange=exchange, routing_key="email_queue")
        good = {"id": str(uuid.uuid4()), "task": SEND}
        producer.publish(b"\x80\x04\x95pickled", content_type="application/x-python-serialize",
                         content_encoding="binary", headers={**good, "id": str(uuid.uuid4())})
        producer.publish([[], {}, {}], serializer="json", headers={"id": str(uuid.uuid4()), "task": "no.such.task"})
        producer.publish("{not json", content_type="application/json", content_encoding="utf-8",
                         headers={**good, "id": str(uuid.uuid4())})
    big = send(stack, "x" * 10_000_000)
    wait_for(lambda: queue_empty(stack), 60, 0.2)
    assert finished(stack, [big.id])[big.id] == "FAILURE"
    assert "EMAIL_MAX_SUBJECT_CHARS" in str(result(stack, big.id).get("result"))
    ok = send(stack, "after hostile messages")
    assert finished(stack, [ok.id])[ok.id] == "SUCCESS"
    assert stack.pid("workers:worker_email") == pid, "the worker was restarted"
    assert stack.smtp.copies(result(stack, ok.id)["result"]["message_id"]) == 1
    faults_table.append(dict(scenario="pickle / unknown task / malformed / 10 MB subject", outcome="refused",
                             messages=4, smtp_received=0, worker_restarts=0))


def test_wrong_argument_type_is_invalid_input_naming_the_parameter(stack, faults_table):
    r = stack.app.send_task(SEND, kwargs=dict(to_email="ops@example.test", subject=["not", "text"], body="b"))
    missing = stack.app.send_task(SEND, kwargs=dict(to_email="ops@example.test", body="b"))
    finished(stack, [r.id, missing.id])
    meta, meta2 = result(stack, r.id), result(stack, missing.id)
    assert meta["result"]["exc_type"] == "InvalidInput" and "subject must be text, got list" in str(meta["result"])
    assert meta2["result"]["exc_type"] == "InvalidInput" and "'subject'" in str(meta2["result"])
    faults_table.append(dict(scenario="wrong argument type / missing argument", outcome="InvalidInput",
                             tasks=2, deliveries=deliveries(stack, r.id) + deliveries(stack, missing.id),
                             smtp_received=0))


def test_countdown_at_or_past_the_visibility_timeout_is_refused_and_below_runs_once(stack, faults_table):
    with pytest.raises(EtaTooFar, match="visibility timeout"):
        send(stack, "countdown 45 s", countdown=45)  # VISIBILITY_TIMEOUT_S=30 in this stack
    ok = send(stack, "countdown 3 s", countdown=3)
    assert finished(stack, [ok.id], 60)[ok.id] == "SUCCESS"
    mid = result(stack, ok.id)["result"]["message_id"]
    assert stack.smtp.copies(mid) == 1 and deliveries(stack, ok.id) == 1
    faults_table.append(dict(scenario="countdown >= visibility timeout / below", outcome="refused / 1 run",
                             refused=1, deliveries=1, smtp_received=1))


def test_pool_child_killed_mid_send_three_times_one_message_id_per_task(stack, faults_table):
    t0 = time.monotonic()
    tasks = [send(stack, f"[kill-once] report {i}") for i in range(3)]
    states = finished(stack, [t.id for t in tasks], 90)
    assert set(states.values()) == {"SUCCESS"}
    per_task = {t.id: stack.smtp.by_task(t.id) for t in tasks}
    assert all(len(c) == 1 for c in per_task.values()), per_task  # one Message-ID per task
    assert {tid for tid, _ in stack.smtp.kills} >= {t.id for t in tasks}
    metas = [result(stack, t.id)["result"] for t in tasks]
    assert all(m["message_id"] == f"<{t.id}@example.test>" and m.get("possible_duplicate") for m, t in zip(metas, tasks))
    lost = [int(stack.client.hget(f"cc:task:{t.id}", "lost_deliveries") or 0) for t in tasks]
    assert lost == [1, 1, 1]
    faults_table.append(dict(scenario="kill -9 pool child mid-send (x3)", outcome="3 SUCCESS",
                             deliveries=sum(deliveries(stack, t.id) for t in tasks),
                             smtp_received=sum(sum(c.values()) for c in per_task.values()),
                             distinct_message_ids=sum(len(c) for c in per_task.values()),
                             seconds=round(time.monotonic() - t0, 1)))


def test_poison_task_fails_after_max_deliveries_with_the_reason(stack, faults_table):
    r = send(stack, "[kill-always] poison")
    assert finished(stack, [r.id], 120)[r.id] == "FAILURE"
    meta = result(stack, r.id)["result"]
    assert meta["exc_type"] == "WorkerLostTooOften"
    assert "worker lost 3 times (killed, out of memory, or crashed)" in meta["exc_message"][0]
    received = stack.smtp.by_task(r.id)
    assert len(received) == 1 and sum(received.values()) == 3  # 3 deliveries reached SMTP, 1 Message-ID
    assert deliveries(stack, r.id) == 4
    timeline = [json.loads(e) for e in stack.client.lrange(f"cc:timeline:{r.id}", 0, -1)]
    assert [e["state"] for e in timeline].count("WORKER_LOST") == 3
    wait_for(lambda: stack.client.hget(f"cc:task:{r.id}", "state") == "FAILURE", 10, 0.2)
    assert stack.client.hget(f"cc:task:{r.id}", "lost_deliveries") == "3"
    wait_for(lambda: queue_empty(stack), 30, 0.2)
    faults_table.append(dict(scenario="poison task (kills its process every send)", outcome="FAILURE",
                             deliveries=deliveries(stack, r.id), smtp_received=sum(received.values()),
                             distinct_message_ids=len(received), max_deliveries=3))


def test_sigterm_one_worker_is_restarted_and_its_tasks_finish_once(stack, faults_table):
    before = stack.pids()
    tasks = [send(stack, f"[stall:3] in flight {i}") for i in range(4)]
    wait_for(lambda: sum(stack.smtp.received[m] for m in list(stack.smtp.received)
                         if "in flight" in stack.smtp.subjects.get(m, "")) >= 2, 30, 0.1)
    old = before["workers:worker_email"]
    t0 = time.monotonic()
    os.kill(old, signal.SIGTERM)
    states = finished(stack, [t.id for t in tasks], 90)
    assert set(states.values()) == {"SUCCESS"}
    wait_for(lambda: stack.pid("workers:worker_email") not in (0, old), 30, 0.2)
    recover_s = time.monotonic() - t0
    received = Counter({m: n for t in tasks for m, n in stack.smtp.by_task(t.id).items()})
    assert len(received) == 4 and set(received.values()) == {1}
    after = stack.pids()
    assert {k: v for k, v in after.items() if k != "workers:worker_email"} == \
        {k: v for k, v in before.items() if k != "workers:worker_email"}, "another process was restarted"
    assert http_status(f"{stack.console_url}/_stcore/health") == 200
    faults_table.append(dict(scenario="SIGTERM one worker with 4 sends in flight", outcome="4 SUCCESS",
                             deliveries=sum(deliveries(stack, t.id) for t in tasks),
                             smtp_received=sum(received.values()), other_restarts=0,
                             seconds_to_restart=round(recover_s, 1)))
