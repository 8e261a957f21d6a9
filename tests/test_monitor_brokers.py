"""The monitor's queue features on each broker (Redis; RabbitMQ over AMQP; RabbitMQ + management API).

Each test runs once per broker (`broker_env` params): real Redis, a real RabbitMQ node, real
workers (a thread worker on Redis, a worker process on RabbitMQ). The management API refreshes its
figures every few seconds, so figures read through it are polled for, not read once.
"""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.errors import BrokerUnavailable, InvalidInput
from app.launcher import redis_server
from app.access import audit, identity
from app.monitor import actions, brokers, diagnose
from app.store import history, keys
from app import runtime
from config.celery_settings import QUEUES
from tests.conftest import ROOT, wait_for

HEALTH = "app.tasks.maintenance_tasks.health_check"


def state_of(client, tid):
    t = history.get_task(client, tid)
    return t and t.get("state")


def holds(report) -> set[str]:
    return {f.code for f in report["findings"] if f.holds}


def detail_of(env, queue, consumers=None):
    return {d.name: d for d in env.broker.details([queue], consumers or {})}[queue]


def test_broker_is_chosen_by_url():
    assert brokers.kind_of("redis://127.0.0.1:6379/0") == "redis"
    assert brokers.kind_of("amqp://guest:guest@127.0.0.1:5672/vhost") == "amqp"
    assert brokers.kind_of("amqps://h/") == "amqp"
    with pytest.raises(ValueError, match="not supported"):
        brokers.kind_of("sqs://key:secret@")
    assert brokers.safe_url("amqp://u:s3cret@h:5672/v") == "amqp://u:***@h:5672/v"


def test_unreachable_rabbitmq_is_a_clear_error():
    broker = brokers.from_url(f"amqp://guest:guest@127.0.0.1:{redis_server.free_port()}//")
    with pytest.raises(BrokerUnavailable, match="unreachable"):
        broker.depths(["default_queue"])
    assert isinstance(BrokerUnavailable("x"), OSError)


def test_redis_counts_are_one_script_and_match_the_pipelined_reads(redis_client, redis_url):
    """depths/details read every priority list in one script; a user refused scripts (ACL) gets the
    same figures from one pipeline."""
    import json

    from app.monitor.brokers import redis_lists

    qa, qb, empty = (f"script_{n}_{uuid.uuid4().hex[:6]}" for n in ("a", "b", "empty"))
    lists = keys.priority_lists(qa)
    for i, name in enumerate(lists):  # 1, 2, 3, 4 messages in the four priority lists of qa
        for j in range(i + 1):
            redis_client.lpush(name, json.dumps({"headers": {"id": f"{i}-{j}", "cc_sent_at": str(1000.0 + 10 * i + j)}}))
    redis_client.rpush(keys.priority_lists(qb)[2], "not json")
    names = [qa, qb, empty]
    try:
        depths = redis_lists.depths(redis_client, names)
        assert depths.ready == {qa: 10, qb: 1, empty: 0}
        detail = {d.name: d for d in redis_lists.details(redis_client, names, {}, now=2000.0)}
        assert (detail[qa].ready, detail[qa].latency_s) == (10, 1000.0)  # oldest across the lists
        assert (detail[qb].ready, detail[qb].latency_s) == (1, None)
        assert (detail[empty].ready, detail[empty].latency_s) == (0, None)
        for with_oldest in (False, True):
            assert redis_lists._read(redis_client, names, with_oldest) == redis_lists._read_pipelined(redis_client, names, with_oldest)
        user = f"noscript{uuid.uuid4().hex[:6]}"
        redis_client.acl_setuser(user, enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
                                 commands=["+@all", "-@scripting"])
        limited = redis_client.__class__.from_url(redis_url.replace("redis://", f"redis://{user}:pw@"),
                                                  decode_responses=True)
        try:
            with pytest.raises(Exception, match="(?i)perm"):
                limited.eval("return 1", 0)
            assert redis_lists.depths(limited, names) == depths
            assert [(d.name, d.ready, d.latency_s) for d in redis_lists.details(limited, names, {}, now=2000.0)] == \
                [(d.name, d.ready, d.latency_s) for d in detail.values()]
        finally:
            limited.close()
            redis_client.acl_deluser(user)
    finally:
        redis_client.delete(*lists, *keys.priority_lists(qb))


def test_management_api_counts_are_live(rabbitmq):
    """depths through the management API asks the queues (enable_queue_totals): a publish shows at
    once, not after the stats interval; unacked is known."""
    import kombu

    q = f"live_{uuid.uuid4().hex[:6]}"
    broker = brokers.from_url(rabbitmq.amqp_url, rabbitmq.management_url)
    try:
        with kombu.Connection(rabbitmq.amqp_url) as conn:
            queue = kombu.Queue(q, kombu.Exchange(q, type="direct"), routing_key=q)(conn.default_channel)
            queue.declare()
            for _ in range(3):
                conn.Producer().publish({"x": 1}, exchange=q, routing_key=q)
            wait_for(lambda: broker.passive_counts([q])[q][0] == 3)  # in the queue (read over AMQP)
            for _ in range(5):  # read again and again within the stats interval (500 ms in tests)
                depths = broker.depths([q])
                assert depths.ready == {q: 3} and depths.unacked == 0
            conn.Producer().publish({"x": 1}, exchange=q, routing_key=q)
            wait_for(lambda: broker.passive_counts([q])[q][0] == 4)
            assert broker.depths([q]).ready == {q: 4}
            queue.delete()
    finally:
        broker.close()


def test_end_to_end_routed_queue_worker_result_monitor(broker_env, redis_client):
    r = broker_env.app.send_task(HEALTH)  # routed to default_queue by task_routes
    assert r.get(timeout=60)["status"] in ("healthy", "degraded", "unhealthy")
    runtime.get().writer.flush()
    task = wait_for(lambda: state_of(redis_client, r.id) == "SUCCESS" and history.get_task(redis_client, r.id))
    assert task["queue"] == "default_queue" and task["worker"] == broker_env.worker_hostname
    depths = broker_env.broker.depths(QUEUES)
    assert set(depths.ready) == set(QUEUES)


def test_depths_and_purge_of_one_queue(broker_env, redis_client):
    qa, qb = f"purge_a_{uuid.uuid4().hex[:6]}", f"purge_b_{uuid.uuid4().hex[:6]}"
    for q in (qa, qb):
        for _ in range(3):
            broker_env.app.send_task(HEALTH, queue=q)
    wait_for(lambda: broker_env.broker.depths([qa, qb]).ready == {qa: 3, qb: 3}, timeout_s=30)
    out = actions.purge_queue(redis_client, broker_env.broker, qa, identity.system("tester"), [qa, qb])
    assert out["removed"] == 3
    wait_for(lambda: broker_env.broker.depths([qa, qb]).ready == {qa: 0, qb: 3}, timeout_s=30)
    entry = audit.recent(redis_client, 1)[0]
    assert entry["action"] == "purge" and entry["target"] == qa
    with pytest.raises(InvalidInput):
        actions.purge_queue(redis_client, broker_env.broker, "default_queue_typo", identity.system("tester"), QUEUES)
    assert broker_env.broker.purge(qb) == 3
    assert broker_env.broker.purge(f"never_declared_{uuid.uuid4().hex[:6]}") == 0


def test_waiting_with_no_consumer_is_diagnosed(broker_env, redis_client):
    q = f"nobody_{uuid.uuid4().hex[:6]}"
    ids = [broker_env.app.send_task(HEALTH, queue=q).id for _ in range(3)]
    runtime.get().writer.flush()
    report = diagnose.diagnose(broker_env.app, redis_client, broker_env.broker, ids[1])
    assert {"waiting", "no_consumer"} <= holds(report), report
    assert report["verdict"].startswith("No online worker consumes")
    waiting = next(f.message for f in report["findings"] if f.code == "waiting")
    if broker_env.kind == "redis":
        assert "position 2" in waiting
    else:
        assert "3 ready message(s)" in waiting and "position" in waiting  # says why no position
    if broker_env.kind == "amqp+management":  # the management API trails by its stats interval
        d = wait_for(lambda: (d := detail_of(broker_env, q)).ready == 3 and d.latency_s is not None and d, timeout_s=30)
    else:
        d = detail_of(broker_env, q)
    assert d.ready == 3 and d.stuck
    if broker_env.kind == "amqp":
        assert d.latency_s is None and "RABBITMQ_MANAGEMENT_URL" in d.unknown["latency_s"]
        assert d.reserved is None and d.broker_consumers == 0
    else:
        assert d.latency_s is not None and d.latency_s >= 0 and "latency_s" not in d.unknown
    broker_env.broker.purge(q)


def test_eta_task_is_reserved_not_started(broker_env, redis_client):
    r = broker_env.app.send_task(HEALTH, countdown=600)
    wait_for(lambda: state_of(redis_client, r.id) == "RECEIVED")
    report = diagnose.diagnose(broker_env.app, redis_client, broker_env.broker, r.id)
    assert {"eta_future", "reserved"} <= holds(report), report
    if broker_env.kind == "redis":
        assert detail_of(broker_env, "default_queue").eta_held >= 1
    elif broker_env.kind == "amqp+management":
        wait_for(lambda: (detail_of(broker_env, "default_queue").reserved or 0) >= 1, timeout_s=30)
        d = detail_of(broker_env, "default_queue")
        assert d.eta_held is None and "reserved" in d.unknown["eta_held"]
    else:
        assert detail_of(broker_env, "default_queue").reserved is None
    actions.revoke(broker_env.app, redis_client, r.id, identity.system("tester"))


def test_worker_lost_explains_redelivery_for_the_broker(broker_env, redis_client):
    import time

    ghost, tid = f"ghost@{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    redis_client.zadd(keys.WORKERS, {ghost: time.time() - 600})
    redis_client.hset(keys.worker(ghost), mapping={"hostname": ghost, "status": "online", "queues": "[]"})
    runtime.get().writer.write(tid, "STARTED", {"started_at": time.time() - 300}, name=HEALTH, queue="default_queue",
                    worker=ghost, first_seen=True)
    runtime.get().writer.flush()
    report = diagnose.diagnose(broker_env.app, redis_client, broker_env.broker, tid)
    assert "worker_lost" in holds(report) and ghost in report["verdict"]
    expected = "visibility timeout" if broker_env.kind == "redis" else "connection closes"
    assert expected in report["verdict"]


def test_metrics_process_runs_on_the_broker(broker_env, redis_url):
    """The metrics process reads queues from the broker in use (it used to exit on amqp:// URLs)."""
    broker_env.app.send_task(HEALTH).get(timeout=60)
    port = redis_server.free_port()
    env = dict(os.environ, METRICS_PORT=str(port), REDIS_URL=redis_url, **broker_env.env)
    proc = subprocess.Popen([sys.executable, "-m", "app.monitor.metrics"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def scrape():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        except OSError:
            return None
    try:
        text = wait_for(scrape, timeout_s=30)
    finally:
        proc.terminate()
        proc.wait(10)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("celery_console_up", (("app", "all"),))] == 1
    assert ("celery_console_queue_ready", (("app", "console"), ("queue", "default_queue"))) in samples
    reserved = ("celery_console_queue_reserved", (("app", "console"), ("queue", "default_queue")))
    assert (reserved in samples) == (broker_env.kind != "amqp")  # unknown is left out, not 0


def test_queues_carry_the_same_max_priority(broker_env):
    """Every queue is declared with x-max-priority (RabbitMQ refuses a redeclaration that differs)."""
    from config.settings import get_settings

    max_priority = get_settings().QUEUE_MAX_PRIORITY
    for q in broker_env.app.amqp.queues.values():
        assert q.queue_arguments == {"x-max-priority": max_priority}
    extra = broker_env.app.amqp.queues.select_add(f"adhoc_{uuid.uuid4().hex[:6]}")
    assert extra.queue_arguments == {"x-max-priority": max_priority}
    if broker_env.kind == "redis":
        return
    import amqp
    import kombu

    with kombu.Connection(broker_env.env["CELERY_BROKER_URL"]) as conn:
        channel = conn.channel()
        for q in QUEUES:  # declared by the worker; the same arguments are accepted again
            channel.queue_declare(queue=q, durable=True, auto_delete=False,
                                  arguments={"x-max-priority": max_priority})
        with pytest.raises(amqp.exceptions.PreconditionFailed):
            channel.queue_declare(queue="default_queue", durable=True, auto_delete=False,
                                  arguments={"x-max-priority": max_priority + 1})
    # a high-priority message overtakes waiting ones on RabbitMQ
    q = f"prio_{uuid.uuid4().hex[:6]}"
    low = [broker_env.app.send_task(HEALTH, queue=q, priority=0).id for _ in range(2)]
    high = broker_env.app.send_task(HEALTH, queue=q, priority=9).id
    wait_for(lambda: broker_env.broker.passive_counts([q])[q][0] == 3)
    with kombu.Connection(broker_env.env["CELERY_BROKER_URL"]) as conn:
        channel = conn.channel()
        msg = channel.basic_get(queue=q, no_ack=False)
        assert msg.properties["application_headers"]["id"] == high and high not in low
        channel.basic_reject(msg.delivery_tag, requeue=True)
    broker_env.broker.purge(q)


def test_monitor_page_shows_what_the_broker_can_tell(broker_env, monkeypatch):
    """The Task Monitor's queue table on each broker; on RabbitMQ without the management API the
    reserved count is shown as unknown with the reason."""
    from streamlit.testing.v1 import AppTest

    from config.settings import get_settings

    for key, value in broker_env.env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    if broker_env.kind != "redis":  # the management API's figures trail by its stats interval
        wait_for(lambda: all(d.broker_consumers for d in broker_env.broker.details(QUEUES, {})), timeout_s=30)
    try:
        at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30).run()
        assert not at.exception, at.exception
        table = next(df.value for df in at.dataframe if "latency" in df.value.columns)
        # the configured queues first; queues seen in other tests' events may follow
        assert list(table["queue"])[:len(QUEUES)] == list(QUEUES)
        table = table[table["queue"].isin(QUEUES)]
        captions = " ".join(c.value for c in at.caption)
        if broker_env.kind == "redis":
            assert "broker consumers" not in table.columns and "Unknown on this broker" not in captions
        else:
            assert (table["broker consumers"] >= 1).all()  # the RabbitMQ worker consumes all five
            assert ("unknown" in set(table["reserved"])) == (broker_env.kind == "amqp")
            assert "Unknown on this broker" in captions
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


PAGE_ON_BROKER = r'''
import json, sys, time
from streamlit.testing.v1 import AppTest
from celery.result import AsyncResult
from config.celery_config import celery_app

at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
assert not at.exception, at.exception
next(b for b in at.button if b.label == "Send document job").click().run()
assert not at.exception, at.exception
task_id = next(t.value for t in at.toast if "Document job sent" in t.value).rsplit(" ", 1)[-1]
result = AsyncResult(task_id, app=celery_app).get(timeout=120)
deadline = time.monotonic() + 60
while True:
    at.run()
    frames = [df.value for df in at.dataframe if "state" in df.value.columns and "queue" in df.value.columns]
    rows = frames[0][frames[0]["id"] == task_id] if frames else []
    if len(rows) and rows.iloc[0]["state"] == "SUCCESS" or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps({"id": task_id, "words": result["outputs"]["stats"]["words"],
                  "row": rows.iloc[0][["state", "queue", "worker"]].tolist() if len(rows) else None}))
'''


def test_page_submit_on_rabbitmq_reaches_worker_result_and_monitor(rabbitmq, amqp_worker, redis_url, data_dir):
    """Task Monitor page (its own process, CELERY_BROKER_URL=amqp://) → file_processing_queue on
    RabbitMQ → the RabbitMQ worker → result in Redis → the page's task table."""
    import json

    env = dict(os.environ, CELERY_BROKER_URL=rabbitmq.amqp_url, RABBITMQ_MANAGEMENT_URL=rabbitmq.management_url or "",
               REDIS_URL=redis_url, DATA_DIR=str(data_dir))
    out = subprocess.run([sys.executable, "-c", PAGE_ON_BROKER, str(ROOT / "pages" / "task_monitor.py")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["words"] > 0
    assert got["row"] == ["SUCCESS", "file_processing_queue", amqp_worker]
