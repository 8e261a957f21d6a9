"""Operator actions and the stuck diagnosis, staged for real against Redis and a real worker."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.errors import InvalidInput
from app.launcher import redis_server
from app.access import audit, identity
from app.monitor import actions, diagnose
from app.monitor.brokers import redis_lists
from app.store import history, keys
from app import runtime
from config.celery_settings import QUEUES
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")
HEALTH = "app.tasks.maintenance_tasks.health_check"
WORD = "app.tasks.file_tasks.process_word_document"


def state_of(client, tid):
    t = history.get_task(client, tid)
    return t and t.get("state")


def holds(report) -> set[str]:
    return {f.code for f in report["findings"] if f.holds}


TESTER = identity.system("tester")


def test_revoked_task_never_runs_and_is_audited(celery_app, redis_client):
    r = celery_app.send_task(HEALTH, countdown=2)
    who = identity.system(f"tester-{uuid.uuid4().hex[:6]}")
    actions.revoke(celery_app, redis_client, r.id, who)
    wait_for(lambda: state_of(redis_client, r.id) == "REVOKED", timeout_s=15)
    time.sleep(2.5)  # proves a non-event: past its countdown, the revoked task still never starts
    assert state_of(redis_client, r.id) == "REVOKED"
    assert history.get_task(redis_client, r.id).get("started_at") is None
    assert any(e["who"] == who.name and e["action"] == "revoke" and e["target"] == r.id for e in audit.recent(redis_client))
    report = diagnose.diagnose(celery_app, redis_client, redis_client, r.id)
    assert "revoked" in holds(report) and "revoked" in report["verdict"]


def test_retry_reruns_with_same_args_and_links_ids(celery_app, redis_client, data_dir, corpus):
    target = data_dir / "uploads" / f"later-{uuid.uuid4().hex}.docx"
    target.parent.mkdir(parents=True, exist_ok=True)
    first = celery_app.send_task(WORD, args=[str(target), ["count_stats"]])
    wait_for(lambda: state_of(redis_client, first.id) == "FAILURE")
    target.write_bytes((corpus / "docx" / "google-docs_no_docprops.docx").read_bytes())
    out = actions.retry(celery_app, redis_client, first.id, TESTER)
    second = celery_app.AsyncResult(out["new_id"])
    assert second.get(timeout=60)["outputs"]["stats"]["words"] == 305
    runtime.get().writer.flush()  # history trails results by the writer's linger (50 ms)
    assert history.get_task(redis_client, second.id)["retry_of"] == first.id
    assert history.get_task(redis_client, first.id)["retried_as"] == second.id
    assert history.get_task(redis_client, second.id)["args_json"] == history.get_task(redis_client, first.id)["args_json"]
    with pytest.raises(InvalidInput):
        actions.retry(celery_app, redis_client, "no-such-id", TESTER)


def test_purge_empties_only_that_queue(celery_app, redis_client):
    qa, qb = f"purge_a_{uuid.uuid4().hex[:6]}", f"purge_b_{uuid.uuid4().hex[:6]}"
    for q in (qa, qb):
        for _ in range(3):
            celery_app.send_task(HEALTH, queue=q)
    before = redis_lists.depths(redis_client, [qa, qb]).ready
    assert before == {qa: 3, qb: 3}
    out = actions.purge_queue(redis_client, redis_client, qa, TESTER, [qa, qb])
    assert out["removed"] == 3
    assert redis_lists.depths(redis_client, [qa, qb]).ready == {qa: 0, qb: 3}
    assert audit.recent(redis_client, 1)[0]["action"] == "purge"
    with pytest.raises(InvalidInput):
        actions.purge_queue(redis_client, redis_client, "default_queue_typo", TESTER, QUEUES)
    redis_lists.purge(redis_client, qb)


def test_waiting_with_no_consumer_is_diagnosed_with_position(celery_app, redis_client):
    q = f"nobody_{uuid.uuid4().hex[:6]}"
    ids = [celery_app.send_task(HEALTH, queue=q).id for _ in range(3)]
    runtime.get().writer.flush()  # the publisher's history writes are queued to a background thread
    report = diagnose.diagnose(celery_app, redis_client, redis_client, ids[1])
    assert {"waiting", "no_consumer"} <= holds(report)
    assert "position 2" in next(f.message for f in report["findings"] if f.code == "waiting")
    assert report["verdict"].startswith("No online worker consumes")
    detail = {d.name: d for d in redis_lists.details(redis_client, [q], {})}[q]
    assert detail.ready == 3 and detail.stuck and detail.latency_s is not None and detail.latency_s >= 0
    redis_lists.purge(redis_client, q)


def test_eta_in_future_is_reserved_not_started(celery_app, redis_client):
    r = celery_app.send_task(HEALTH, countdown=600)
    wait_for(lambda: state_of(redis_client, r.id) == "RECEIVED")
    report = diagnose.diagnose(celery_app, redis_client, redis_client, r.id)
    assert {"eta_future", "reserved"} <= holds(report), report
    detail = {d.name: d for d in redis_lists.details(redis_client, QUEUES, {})}["default_queue"]
    assert detail.eta_held >= 1
    actions.revoke(celery_app, redis_client, r.id, TESTER)


def test_result_expired_and_unknown_and_worker_lost(celery_app, redis_client):
    r = celery_app.send_task(HEALTH)
    r.get(timeout=30)
    wait_for(lambda: state_of(redis_client, r.id) == "SUCCESS")
    assert "finished" in holds(diagnose.diagnose(celery_app, redis_client, redis_client, r.id))
    redis_client.delete(f"celery-task-meta-{r.id}")
    assert "result_expired" in holds(diagnose.diagnose(celery_app, redis_client, redis_client, r.id))
    assert holds(diagnose.diagnose(celery_app, redis_client, redis_client, uuid.uuid4().hex)) == {"unknown"}
    ghost, tid = f"ghost@{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    redis_client.zadd(keys.WORKERS, {ghost: time.time() - 600})
    redis_client.hset(keys.worker(ghost), mapping={"hostname": ghost, "status": "online", "queues": "[]"})
    runtime.get().writer.write(tid, "STARTED", {"started_at": time.time() - 300}, name=HEALTH, queue="default_queue",
                    worker=ghost, first_seen=True)
    runtime.get().writer.flush()
    report = diagnose.diagnose(celery_app, redis_client, redis_client, tid)
    assert "worker_lost" in holds(report) and ghost in report["verdict"]


def test_rate_limit_is_set_on_workers_and_diagnosed(celery_app, redis_client):
    with pytest.raises(InvalidInput):
        actions.set_rate_limit(celery_app, redis_client, HEALTH, "lots", TESTER)
    out = actions.set_rate_limit(celery_app, redis_client, HEALTH, "1/m", TESTER)
    assert out["ok"], out
    try:
        ids = [celery_app.send_task(HEALTH).id for _ in range(3)]
        wait_for(lambda: state_of(redis_client, ids[-1]) == "RECEIVED" and state_of(redis_client, ids[0]) == "SUCCESS")
        held = [i for i in ids if state_of(redis_client, i) == "RECEIVED"]
        assert held, [state_of(redis_client, i) for i in ids]
        assert "rate_limited" in holds(diagnose.diagnose(celery_app, redis_client, redis_client, held[-1]))
    finally:
        actions.set_rate_limit(celery_app, redis_client, HEALTH, "", TESTER)
    assert [e["action"] for e in audit.recent(redis_client, 2)] == ["rate_limit", "rate_limit"]


def test_metrics_endpoint_reports_queues_workers_and_runtimes(celery_app, redis_url):
    celery_app.send_task(HEALTH).get(timeout=30)
    port = redis_server.free_port()
    env = dict(os.environ, METRICS_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "app.monitor.metrics"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def scrape():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                return None
        text = wait_for(scrape, timeout_s=20)
    finally:
        proc.terminate()
        proc.wait(10)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    console_q = (("app", "console"), ("queue", "default_queue"))
    assert samples[("celery_console_up", (("app", "all"),))] == 1
    assert samples[("celery_console_workers_online", (("app", "console"),))] >= 1
    assert ("celery_console_queue_ready", console_q) in samples
    assert samples[("celery_console_queue_consumers", console_q)] >= 1
    assert samples[("celery_console_task_runtime_seconds_count", (("app", "all"), ("task", HEALTH)))] >= 1


def test_add_and_cancel_consumer_changes_what_the_worker_consumes(celery_app, redis_client, celery_worker):
    q = f"extra_{uuid.uuid4().hex[:6]}"
    host = celery_worker.hostname
    out = actions.consumer(celery_app, redis_client, host, q, True, TESTER)
    assert out["ok"], out
    r = celery_app.send_task(HEALTH, queue=q)
    assert r.get(timeout=30)["status"] in ("healthy", "degraded", "unhealthy")
    runtime.get().writer.flush()
    assert history.get_task(redis_client, r.id)["queue"] == q
    assert actions.consumer(celery_app, redis_client, host, q, False, TESTER)["ok"]  # replied: cancelled
    waiting = celery_app.send_task(HEALTH, queue=q)
    time.sleep(1.5)  # proves a non-event: nobody takes the message
    runtime.get().writer.flush()
    assert state_of(redis_client, waiting.id) == "SENT"  # nobody consumes q any more
    assert redis_lists.depths(redis_client, [q]).ready == {q: 1}
    assert [e["action"] for e in audit.recent(redis_client, 2)] == ["cancel_consumer", "add_consumer"]
    redis_lists.purge(redis_client, q)


def test_bulk_revoke_applies_to_the_filtered_set_only(celery_app, redis_client):
    q, other = f"bulk_{uuid.uuid4().hex[:6]}", f"keep_{uuid.uuid4().hex[:6]}"
    ids = {celery_app.send_task(HEALTH, queue=q).id for _ in range(3)}
    kept = celery_app.send_task(HEALTH, queue=other).id
    runtime.get().writer.flush()
    out = actions.bulk(celery_app, redis_client, history.TaskFilter(queue=q), "revoke", TESTER)
    assert set(out["done"]) == ids
    assert all(history.get_task(redis_client, i).get("revoke_requested") == "revoke" for i in ids)
    assert history.get_task(redis_client, kept).get("revoke_requested") is None
    assert audit.recent(redis_client, 1)[0]["action"] == "bulk_revoke"
    for name in (q, other):
        redis_lists.purge(redis_client, name)


def test_history_survives_worker_and_console_restart(celery_app, redis_client, redis_url, data_dir):
    from streamlit.testing.v1 import AppTest

    q = f"restart_{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, REDIS_URL=redis_url, DATA_DIR=str(data_dir))

    def start_worker(name):
        return subprocess.Popen([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "-P", "solo",
                                 "-Q", q, "-n", f"{name}@%h", "--without-mingle", "--without-gossip",
                                 "--loglevel", "WARNING"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = start_worker("first")
    try:
        r1 = celery_app.send_task(HEALTH, queue=q)
        r1.get(timeout=60)
        wait_for(lambda: state_of(redis_client, r1.id) == "SUCCESS")  # recorded just after the result
    finally:
        first.kill()  # no clean shutdown
        first.wait(10)
    second = start_worker("second")
    try:
        r2 = celery_app.send_task(HEALTH, queue=q)
        r2.get(timeout=60)
    finally:
        second.terminate()
        second.wait(30)
    t1, t2 = history.get_task(redis_client, r1.id), history.get_task(redis_client, r2.id)
    assert t1["state"] == t2["state"] == "SUCCESS"
    assert t1["worker"].startswith("first@") and t2["worker"].startswith("second@")
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30)  # a new console
    at.session_state["mon_selected_task"] = r1.id
    at.run()
    assert not at.exception
    where = next(df.value for df in at.dataframe if "task id" in df.value.columns)
    assert where.iloc[0]["queue"] == q and where.iloc[0]["worker"].startswith("first@")


def test_worker_failed_count_comes_from_the_history(celery_app, redis_client, celery_worker, tmp_path):
    from app.monitor import workers

    def failed_now():
        return next(w.failed for w in workers.list_workers(redis_client) if w.hostname == celery_worker.hostname)
    wait_for(lambda: any(w.hostname == celery_worker.hostname for w in workers.list_workers(redis_client)))
    before = failed_now()
    r = celery_app.send_task(WORD, args=[str(tmp_path / "outside.docx"), ["count_stats"]])
    wait_for(lambda: state_of(redis_client, r.id) == "FAILURE")
    wait_for(lambda: failed_now() == before + 1)


def test_pool_grow_and_shrink_on_a_prefork_worker(celery_app, redis_client, redis_url, data_dir):
    q = f"pool_{uuid.uuid4().hex[:6]}"
    name = f"pool{uuid.uuid4().hex[:4]}"
    env = dict(os.environ, REDIS_URL=redis_url, DATA_DIR=str(data_dir))
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "-P", "prefork",
                             "-c", "1", "-Q", q, "-n", f"{name}@%h", "--without-mingle", "--without-gossip",
                             "--loglevel", "WARNING"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        host = wait_for(lambda: next((h for h in redis_client.zrange(keys.WORKERS, 0, -1) if h.startswith(f"{name}@")),
                                     None), timeout_s=60)

        def processes():
            stats = celery_app.control.inspect([host], timeout=2).stats() or {}
            return len(stats.get(host, {}).get("pool", {}).get("processes", []))
        assert wait_for(processes, timeout_s=20) == 1
        assert actions.pool_resize(celery_app, redis_client, host, 1, TESTER)["ok"]
        wait_for(lambda: processes() == 2, timeout_s=20)
        assert actions.pool_resize(celery_app, redis_client, host, -1, TESTER)["ok"]
        wait_for(lambda: processes() == 1, timeout_s=20)
        assert [e["action"] for e in audit.recent(redis_client, 2)] == ["pool_shrink", "pool_grow"]
    finally:
        proc.terminate()
        proc.wait(30)
