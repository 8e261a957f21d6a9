"""Queue pause/resume and peek against real worker processes; the worker_offline rule on a killed
worker."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from app.alerts import checks, engine, rules
from app.alerts.rules import Rule
from app.errors import InvalidInput
from app.access import Identity, Role, audit
from app.monitor import actions, queue_control, workers
from app.store import history, keys
from app import runtime
from tests.conftest import ROOT, wait_for
from tests.test_alerts import clean_alerts  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("celery_worker")
ADMIN = Identity("alert-admin", Role.ADMIN, "127.0.0.1", "accounts")
VIEWER = Identity("alert-viewer", Role.VIEWER, "127.0.0.1", "accounts")
HEALTH = "app.tasks.maintenance_tasks.health_check"


def start_worker(q: str, node: str, redis_url: str, data_dir) -> subprocess.Popen:
    env = dict(os.environ, REDIS_URL=redis_url, DATA_DIR=str(data_dir), WORKER_HEARTBEAT_S="0.5")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "-P", "solo",
                             "-Q", q, "-n", node, "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def heartbeat(client, node: str):
    return next((w for w in workers.list_workers(client, offline_after_s=3) if w.hostname == node), None)


def test_peek_shows_next_messages_redacted_and_leaves_the_queue_unchanged(celery_app, redis_client):
    q = f"peek_{uuid.uuid4().hex[:6]}"
    first = celery_app.send_task(HEALTH, queue=q, kwargs={"api_key": "sk-very-secret", "n": 1})
    second = celery_app.send_task(HEALTH, queue=q, priority=0, kwargs={"n": 2})
    before = [redis_client.lrange(name, 0, -1) for name in keys.priority_lists(q)]
    rows = queue_control.peek(redis_client, q, 5)
    assert [r["id"] for r in rows] == [first.id, second.id]  # the order a worker takes them
    assert rows[0]["task"] == HEALTH and "sk-very-secret" not in rows[0]["kwargs"] and "***" in rows[0]["kwargs"]
    assert rows[0]["age_s"] is not None and rows[0]["age_s"] >= 0
    assert len(queue_control.peek(redis_client, q, 1)) == 1
    assert [redis_client.lrange(name, 0, -1) for name in keys.priority_lists(q)] == before
    with pytest.raises(ValueError):
        queue_control.peek(redis_client, q, 0)
    redis_client.delete(*keys.priority_lists(q))


def test_pause_survives_worker_restart_and_resume_restores_consumption(celery_app, redis_client, redis_url,
                                                                        data_dir, clean_alerts):
    q = f"pause_{uuid.uuid4().hex[:6]}"
    node = f"pausetest-{uuid.uuid4().hex[:6]}@localhost"
    with pytest.raises(InvalidInput):
        actions.pause_queue(celery_app, redis_client, q, ADMIN, ["default_queue"])
    with pytest.raises(InvalidInput):
        actions.resume_queue(celery_app, redis_client, q, ADMIN)
    offline = rules.save(redis_client, Rule(id="offline", name="Worker gone", kind="worker_offline",
                                            params={"worker": "pausetest-*", "for_s": 0}))
    ctx = lambda: checks.Context(redis_client, redis_client, [q], offline_after_s=3)  # noqa: E731
    proc = start_worker(q, node, redis_url, data_dir)
    try:
        wait_for(lambda: (w := heartbeat(redis_client, node)) and w.online and q in w.queues, timeout_s=40)
        out = actions.pause_queue(celery_app, redis_client, q, ADMIN, [q])
        assert out["replies"].get(node, {}).get("ok") in (f"paused {q}", None)  # None: it missed the broadcast
        wait_for(lambda: q not in heartbeat(redis_client, node).queues, timeout_s=15)
        r = celery_app.send_task(HEALTH, queue=q)
        # the worker is killed (no sign-off): the offline rule fires
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        fired = wait_for(lambda: engine.evaluate(redis_client, ctx(), [offline]), timeout_s=20)
        assert fired[0]["status"] == "fired" and node in fired[0]["subjects"]
        # restarted while paused: it must not take the queue
        proc = start_worker(q, node, redis_url, data_dir)
        wait_for(lambda: (w := heartbeat(redis_client, node)) and w.online, timeout_s=40)
        assert [e["status"] for e in engine.evaluate(redis_client, ctx(), [offline])] == ["resolved"]
        time.sleep(1.0)
        runtime.get().writer.flush()
        assert heartbeat(redis_client, node).queues == []
        assert history.get_task(redis_client, r.id)["state"] == "SENT"
        assert [m["id"] for m in queue_control.peek(redis_client, q, 5)] == [r.id]
        out = actions.resume_queue(celery_app, redis_client, q, ADMIN)
        assert out["replies"].get(node, {}).get("ok") in (f"resumed {q}", None)
        assert r.get(timeout=60)["status"] in ("healthy", "degraded", "unhealthy")
        assert queue_control.paused(redis_client) == {}
        done = [e["action"] for e in audit.recent(redis_client, 5)]
        assert "queue_pause" in done and "queue_resume" in done
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        redis_client.hdel(keys.PAUSED_QUEUES, q)
        redis_client.delete(*keys.priority_lists(q))
        redis_client.zrem(keys.WORKERS, node)


def test_paused_queue_is_not_alerted_as_without_consumer(celery_app, redis_client, clean_alerts):
    q = f"pq_{uuid.uuid4().hex[:6]}"
    rule = rules.save(redis_client, Rule(name="nc", kind="no_consumer", params={"queue": q, "for_s": 0}))
    celery_app.send_task(HEALTH, queue=q)
    redis_client.hset(keys.PAUSED_QUEUES, q, json.dumps({"at": time.time(), "who": "t"}))
    try:
        assert engine.evaluate(redis_client, checks.Context(redis_client, redis_client, [q], 10), [rule]) == []
    finally:
        redis_client.hdel(keys.PAUSED_QUEUES, q)
        redis_client.delete(*keys.priority_lists(q))
