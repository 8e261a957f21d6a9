"""The Celery-event ingester against a second, independent Celery app.

`tests/foreign_app/inventory_app.py` imports nothing of the console; its worker runs as a subprocess
with ``-E`` on the session's Redis, its tasks are published by a separate process (a plain script,
as another service would), and the console sees them only through `python -m app.monitor.events`,
also a subprocess (so a test can kill it). Flower 2.2 runs beside it on the same broker.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from celery.result import AsyncResult

from app.access import identity
from app.errors import InvalidInput
from app.launcher.redis_server import free_port
from app.monitor import actions, event_changes, queues, workers
from app.monitor.brokers import redis_lists
from app.store import history, keys
from app import runtime
from app.store.writer import StateChange
from tests.browser_stack import stop_group
from tests.conftest import ROOT, wait_for

FOREIGN = Path(__file__).parent / "foreign_app"
WHO = identity.system("events-tester")
TIMEOUT_S = 60


# -- pure translation ------------------------------------------------------------------------------
def test_event_arguments_become_json_text_with_secrets_masked():
    got = event_changes.arguments("('stock.csv', 3)", "{'api_token': 'abc', 'region': 'eu'}")
    assert got["args"] == '["stock.csv", 3]' and got["args_json"] == '["stock.csv", 3]'
    assert json.loads(got["kwargs"]) == {"api_token": "***", "region": "eu"}
    assert json.loads(got["kwargs_json"]) == {"api_token": "abc", "region": "eu"}  # kept for re-send only
    cut = event_changes.arguments("('a very long file name.csv', <object at 0x1>, 'pas", "{'password': 'hunter2', 'x'")
    assert cut["args_json"] is None and cut["kwargs_json"] is None
    assert "hunter2" not in cut["kwargs"] and "***" in cut["kwargs"]
    assert cut["args"].startswith("('a very long file name.csv'")


def test_change_for_each_task_event_type():
    base = {"uuid": "t1", "timestamp": 100.0, "hostname": "w1@h"}
    sent = event_changes.change_for(dict(base, type="task-sent", name="n", args="(1,)", kwargs="{}",
                                         queue="q", retries=0, hostname="pub@h"))
    assert sent["state"] == "SENT" and sent["queue"] == "q" and sent["args_json"] == "[1]" and "worker" not in sent
    assert event_changes.change_for(dict(base, type="task-started", pid=42))["fields"] == {"pid": 42}
    ok = event_changes.change_for(dict(base, type="task-succeeded", result="{'a': 1}", runtime=0.5))
    assert ok["state"] == "SUCCESS" and ok["runtime_s"] == 0.5 and ok["worker"] == "w1@h"
    bad = event_changes.change_for(dict(base, type="task-failed", exception="ValueError('x')", traceback="Tb"))
    assert bad["exception"] == "ValueError('x')" and bad["traceback"] == "Tb"
    assert event_changes.change_for(dict(base, type="task-retried", exception="E"))["reason"] == "E"
    assert event_changes.change_for(dict(base, type="task-revoked", terminated=True))["reason"] == "terminated"
    assert event_changes.change_for(dict(base, type="task-rejected")) is None
    assert event_changes.change_for({"type": "task-started", "uuid": "t1"}) is None  # no timestamp


@pytest.mark.parametrize("text", [
    "('images/sku-1.png', 256)", "(1,)", "{'quality': 85}", "{'a': (1, 2), 'b': [None, True, False]}",
    "('x (y)', ',)', 'None', 'True', '')", "('ünï', \"it's\")", "('a\\nb',)", "('it''s',)", "{1: 'a'}",
    "(1.5, -2, 1e+16, 3.0e-05)", "(12345678901234567890, -0.0)", "((), [], {}, ({},))", "(01,)", "{1, 2}",
    "(float('inf'),)", "('a', <object at 0x1>)", "('abc", "[1, 2", "(1)", "('a')", "([1, 2])", "((1, 2))",
    "{'a': (1)}", "(1 ,)", "[1,]", "('a,',)", "{'': 0}", "(0, -5)", "(1, 2))"])
def test_argument_reprs_read_fast_agree_with_literal_eval(text):
    import ast

    def read(parse):
        try:
            return json.dumps(parse(text))  # tuples and lists read alike, as they are stored
        except (ValueError, SyntaxError, TypeError):
            return "unreadable"
    assert read(event_changes._literal) == read(ast.literal_eval)
    for key, kind in (("args", (list, tuple)), ("kwargs", dict)):  # and the exact JSON kept for a re-send
        try:
            value = ast.literal_eval(text)
            want = json.dumps(list(value) if key == "args" else value, ensure_ascii=False) \
                if isinstance(value, kind) else None
        except (ValueError, SyntaxError, TypeError):
            want = None
        assert event_changes.arguments(*((text, None) if key == "args" else (None, text)))[f"{key}_json"] == want


def test_results_with_secret_named_keys_are_masked_and_others_kept_as_is():
    assert event_changes.mask_repr("{'path': 'a.png', 'bytes': 3}") == "{'path': 'a.png', 'bytes': 3}"
    assert event_changes.mask_repr("{'Access_Key': 'AKIA1', 'n': 1}") == "{'Access_Key': '***', 'n': 1}"
    assert event_changes.arguments("('sk-ant-0123456789abcdef0123',)", "{}")["args"] == '["***"]'


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_event_writers_write_a_stream_through_the_store(kind, redis_client, redis_url, celery_app):
    from app.monitor.event_writer import BatchWriter, ProcessWriter
    from app.monitor.events import Ingester
    from app.store.clients import redis_from_url

    name, t0 = f"evw.{kind}.{uuid.uuid4().hex[:6]}", time.time() - 60
    sink = BatchWriter(lambda: redis_from_url(redis_url)) if kind == "thread" else \
        ProcessWriter(redis_url, retention_s=3_600, max_tasks=1_000_000)
    ingester = Ingester(None, redis_client, sink.put, enable_events=False, inspect_workers=False)
    ids = [str(uuid.uuid4()) for _ in range(600)]  # more than one script call's worth
    try:
        for i, task_id in enumerate(ids):
            for dt, event in enumerate(({"type": "task-sent", "name": name, "args": f"('f{i}.csv',)", "kwargs": "{}",
                                         "queue": "q"}, {"type": "task-received", "name": name},
                                        {"type": "task-started", "pid": 7}, {"type": "task-succeeded", "result": "1",
                                                                              "runtime": 0.25})):
                ingester.on_event(dict(event, uuid=task_id, timestamp=t0 + i * 0.01 + dt * 0.001, hostname="w@h"))
        assert sink.flush(timeout_s=60) and sink.written == sink.queued == 4 * len(ids)
    finally:
        sink.close()
    assert _histogram_count(redis_client, name) == len(ids)
    for i in (0, 299, 599):
        task = history.get_task(redis_client, ids[i])
        assert (task["state"], task["name"], task["queue"], task["worker"], task["args"]) == \
            ("SUCCESS", name, "q", "w@h", f'["f{i}.csv"]')
        assert [e["state"] for e in history.timeline(redis_client, ids[i])] == ["SENT", "RECEIVED", "STARTED", "SUCCESS"]


def test_writer_process_lost_is_reported_and_later_events_are_not_counted_as_written(redis_url):
    from app.monitor.event_writer import ProcessWriter

    lost = []
    sink = ProcessWriter(redis_url, retention_s=3_600, max_tasks=1_000_000, on_exit=lambda: lost.append(True))
    try:
        sink.put(event_changes.entry_for({"type": "task-started", "uuid": str(uuid.uuid4()), "timestamp": time.time()}))
        assert sink.flush(timeout_s=60)  # the child is up and writing
        os.kill(sink._proc.pid, signal.SIGKILL)
        wait_for(lambda: lost, timeout_s=TIMEOUT_S)
        sink.put(event_changes.entry_for({"type": "task-started", "uuid": str(uuid.uuid4()), "timestamp": time.time()}))
        assert sink.flush(timeout_s=5) is False and not sink.alive
    finally:
        sink.close(timeout_s=5)


def test_workers_view_says_where_a_worker_is_known_from(redis_client):
    from streamlit.testing.v1 import AppTest

    from app.monitor.event_workers import WorkerRecorder

    host, queue = f"evonly-{uuid.uuid4().hex[:6]}@elsewhere", f"legacy_{uuid.uuid4().hex[:6]}"
    recorder = WorkerRecorder(redis_client)
    recorder.on_event({"type": "worker-heartbeat", "hostname": host, "timestamp": time.time(), "freq": 60.0,
                       "sw_ident": "py-celery", "sw_ver": "5.3.6", "active": 2, "processed": 41,
                       "loadavg": [0.5, 0.25, 0.1]})
    recorder.on_inspect({host: [{"name": queue}]},
                        {host: {"pool": {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 8}}})
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    frames = [df.value for df in at.dataframe if "source" in df.value.columns]
    row = frames[0].set_index("worker").loc[host]
    assert (row["source"], row["online"], row["queues"], row["pool"], row["concurrency"], row["active"]) == \
        ("events", "online", queue, "prefork", 8, 2)
    assert any(queue in m.value.replace("\\", "") for m in at.markdown)  # its queue is measured too (a queue figure)
    recorder.on_event({"type": "worker-offline", "hostname": host, "timestamp": time.time()})
    assert next(w for w in workers.list_workers(redis_client) if w.hostname == host).online is False


def test_worker_records_the_arguments_of_a_task_a_plain_client_sent(celery_worker, redis_client, redis_url,
                                                                    celery_app):
    # Before any ingester runs: only the console's workers see this task (no publish hook, no events).
    script = ("from celery import Celery; app = Celery(broker=%r); print(app.send_task("
              "'app.tasks.maintenance_tasks.cleanup_failed_tasks', kwargs={'older_than_s': 123456789.0}, "
              "queue='default_queue').id)" % redis_url)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT_S)
    task_id = out.stdout.strip()
    assert out.returncode == 0 and task_id, out.stderr

    def finished():
        runtime.get().writer.flush()
        return _task(redis_client, task_id, "SUCCESS")
    task = wait_for(finished, timeout_s=TIMEOUT_S)
    assert task["kwargs"] == '{"older_than_s": 123456789.0}' and task.get("sent_at") is None
    assert [t["id"] for t in history.list_tasks(redis_client, history.TaskFilter(search="123456789.0"))] == [task_id]
    new = actions.retry(celery_app, redis_client, task_id, WHO)["new_id"]  # args were kept exactly
    assert AsyncResult(new, app=celery_app).get(timeout=TIMEOUT_S)


def test_two_steps_of_one_kind_from_events_both_count_even_when_adjacent(redis_client, celery_app):
    # A retried task's two RECEIVED events, arriving after its STARTED events were written.
    tid, t0 = str(uuid.uuid4()), time.time() - 10
    for state, dt in (("SUCCESS", 6), ("STARTED", 2), ("STARTED", 5), ("RECEIVED", 1), ("RECEIVED", 4)):
        runtime.get().writer.record(StateChange(tid, state, t0 + dt, name="ooo.adjacent", source="events"), sync=True)
    steps = [e["state"] for e in history.timeline(redis_client, tid)]
    assert steps == ["RECEIVED", "STARTED", "RECEIVED", "STARTED", "SUCCESS"]
    assert history.get_task(redis_client, tid)["state"] == "SUCCESS"


# -- the real thing --------------------------------------------------------------------------------
def _spawn(args, cwd, env, log: Path):
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


class Stack:
    """Ingester, foreign worker and Flower on the session Redis; started and stopped by `stack`."""

    def __init__(self, redis_url: str, tmp: Path):
        self.redis_url, self.tmp = redis_url, tmp
        self.tag = uuid.uuid4().hex[:8]
        self.node_id = f"test-{self.tag}"
        self.worker_name = f"inv-{self.tag}@localhost"
        self.env = dict(os.environ, INVENTORY_BROKER_URL=redis_url, PYTHONUNBUFFERED="1",
                        FLOWER_UNAUTHENTICATED_API="true")
        self.procs: dict[str, subprocess.Popen] = {}
        self.flower_port = free_port()

    def start_ingester(self):
        self.procs["ingester"] = _spawn(
            [sys.executable, "-m", "app.monitor.events", "--broker", self.redis_url, "--node-id", self.node_id,
             "--no-enable-events", "--loglevel", "WARNING"], ROOT, self.env, self.tmp / "ingester.log")

    def wait_capturing(self, client, since: float = 0.0):
        """Until the ingester has recorded a heartbeat of the foreign worker (sent every 2 s) newer
        than `since`: it is subscribed, so nothing published from now on is missed."""
        def fresh():
            raw = client.hgetall(keys.event_worker(self.worker_name))
            return raw and float(raw.get("last_event") or 0) > since
        wait_for(fresh, timeout_s=TIMEOUT_S)

    def start(self):
        self.start_ingester()
        self.procs["flower"] = _spawn(
            [sys.executable, "-m", "celery", "--broker", self.redis_url, "flower", f"--port={self.flower_port}",
             "--address=127.0.0.1"], FOREIGN, self.env, self.tmp / "flower.log")
        self.procs["worker"] = _spawn(
            [sys.executable, "-m", "celery", "-A", "inventory_app", "worker", "-E", "-Q", "inventory", "-P", "threads",
             "-c", "1", "-n", self.worker_name, "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
            FOREIGN, self.env, self.tmp / "worker.log")

    def publish(self, script: str) -> dict:
        """Run `script` in a separate process with the foreign app imported; it prints JSON."""
        out = subprocess.run([sys.executable, "-c", "import json, inventory_app\n" + script], cwd=FOREIGN,
                             env=self.env, capture_output=True, text=True, timeout=TIMEOUT_S)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    def flower_task_ids(self) -> set[str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.flower_port}/api/tasks", timeout=5) as resp:
            return set(json.loads(resp.read()))

    def stop(self):
        for proc in self.procs.values():
            stop_group(proc)


@pytest.fixture(scope="module")
def stack(redis_url, tmp_path_factory, celery_app):
    s = Stack(redis_url, tmp_path_factory.mktemp("events"))
    s.start()
    from app.store.clients import redis_from_url

    s.wait_capturing(redis_from_url(redis_url))
    yield s
    s.stop()
    from app.monitor.events import Ingester, monitor_app

    Ingester(monitor_app(redis_url), None, lambda c: None, node_id=s.node_id).drop_queue()


def _task(client, task_id, state=None):
    task = history.get_task(client, task_id)
    return task if task and (state is None or task.get("state") == state) else None


def test_foreign_app_tasks_workers_and_queues_show_in_the_console(stack, redis_client, celery_app):
    # The foreign worker appears from its event heartbeats, with its queue from active_queues.
    info = wait_for(lambda: next((w for w in workers.list_workers(redis_client)
                                  if w.hostname == stack.worker_name and w.online and w.queues), None),
                    timeout_s=TIMEOUT_S)
    assert info.source == "events" and info.sw_ident == "py-celery" and info.queues == ["inventory"]
    assert info.pool == "thread" and info.concurrency == 1

    victim = str(uuid.uuid4())
    actions.revoke(celery_app, redis_client, victim, WHO)  # through the console, by id
    ids = stack.publish(f"""
a = inventory_app
ids = {{"pause": a.audit_pause.delay(1.0).id}}
ids["victim"] = a.restock.apply_async(("sku-victim", 1), task_id={victim!r}).id
ids["ok"] = a.restock.delay("sku-1", 5, warehouse="south").id
ids["bad"] = a.reserve.delay("sku-2", 7).id
ids["retry"] = a.recount.delay("manifest-{stack.tag}.xlsx").id
ids["backlog"] = [a.restock.apply_async(("sku-b", i), queue="inventory_backlog_{stack.tag}").id for i in range(3)]
print(json.dumps(ids))
""")
    ok = wait_for(lambda: _task(redis_client, ids["ok"], "SUCCESS"), timeout_s=TIMEOUT_S)
    assert ok["name"] == "inventory.restock" and ok["queue"] == "inventory" and ok["worker"] == stack.worker_name
    assert json.loads(ok["args"]) == ["sku-1", 5] and json.loads(ok["kwargs"]) == {"warehouse": "south"}
    assert ok["sent_at"] <= ok["started_at"] <= ok["finished_at"] and ok["runtime_s"] is not None
    assert "sku-1" in ok["result"] and "'stock': 10" in ok["result"]

    bad = wait_for(lambda: _task(redis_client, ids["bad"], "FAILURE"), timeout_s=TIMEOUT_S)
    assert "StockError" in bad["exception"] and "sku-2 is out of stock" in bad["exception"]
    assert "Traceback" in bad["traceback"] and "raise StockError" in bad["traceback"]

    retried = wait_for(lambda: _task(redis_client, ids["retry"], "SUCCESS"), timeout_s=TIMEOUT_S)
    steps = [e["state"] for e in history.timeline(redis_client, ids["retry"])]
    assert "RETRY" in steps and steps.index("RETRY") < len(steps) - 1 and steps[-1] == "SUCCESS"
    assert "locked" in retried["reason"]
    # found by a word of its arguments, though no console code published it
    found = history.list_tasks(redis_client, history.TaskFilter(search=f"manifest-{stack.tag}.xlsx"))
    assert [t["id"] for t in found] == [ids["retry"]]

    revoked = wait_for(lambda: _task(redis_client, victim, "REVOKED"), timeout_s=TIMEOUT_S)
    assert revoked["reason"] == "revoked"

    backlog = f"inventory_backlog_{stack.tag}"
    names = wait_for(lambda: (n := queues.monitored(redis_client, ("inventory",))) and backlog in n and n,
                     timeout_s=TIMEOUT_S)
    assert redis_lists.depths(redis_client, names).ready[backlog] == 3

    # Retry with the same arguments: by name through send_task; the foreign worker runs it.
    new = actions.retry(celery_app, redis_client, ids["ok"], WHO)["new_id"]
    runtime.get().writer.flush()  # this process published it: its SENT record trails by the writer's linger
    again = wait_for(lambda: _task(redis_client, new, "SUCCESS"), timeout_s=TIMEOUT_S)
    assert json.loads(again["args"]) == ["sku-1", 5] and again["retry_of"] == ids["ok"]

    # Flower, beside it on the same broker, lists the same task ids.
    finished = {ids["ok"], ids["bad"], ids["retry"], victim, new}
    wait_for(lambda: finished <= stack.flower_task_ids(), timeout_s=TIMEOUT_S)


def _histogram_count(client, name: str) -> int:
    return sum(int(v) for k, v in client.hgetall(keys.runtime_histogram(name)).items() if k != "sum")


def test_own_task_seen_by_signals_and_events_is_one_record(stack, celery_worker, redis_client):
    from app.tasks.maintenance_tasks import cleanup_failed_tasks

    name, host = cleanup_failed_tasks.name, celery_worker.hostname
    runs, done = _histogram_count(redis_client, name), int(redis_client.hget(keys.worker_counts(host), "SUCCESS") or 0)
    result = cleanup_failed_tasks.apply_async(kwargs={"older_than_s": 987654321.0})
    result.get(timeout=TIMEOUT_S)
    runtime.get().writer.flush()
    # both writers reported the finish (each keeps its own step marks in the one hash)
    task = wait_for(lambda: (t := _task(redis_client, result.id, "SUCCESS")) and "u" in t.get("seen_e", "")
                    and "u" in t.get("seen_s", "") and t, timeout_s=TIMEOUT_S)
    steps = [e["state"] for e in history.timeline(redis_client, result.id)]
    assert steps.count("SENT") == steps.count("STARTED") == steps.count("SUCCESS") == 1, steps
    assert steps[-1] == "SUCCESS"  # (Celery stamps task-sent after publishing: it may sort after RECEIVED)
    assert task["kwargs"] == '{"older_than_s": 987654321.0}' and task["worker"] == host
    assert _histogram_count(redis_client, name) == runs + 1
    assert int(redis_client.hget(keys.worker_counts(host), "SUCCESS")) == done + 1
    assert [t["id"] for t in history.list_tasks(redis_client, history.TaskFilter(search="987654321.0"))] == [result.id]


def test_events_arriving_out_of_order_end_in_the_right_state(stack, redis_client, celery_app):
    from kombu import Connection

    ok, failed, t0 = str(uuid.uuid4()), str(uuid.uuid4()), time.time() - 30
    life = [("task-sent", ok, 0, {"name": "ooo.job", "args": "('late.csv',)", "kwargs": "{}", "queue": "ooo"}),
            ("task-received", ok, 1, {"name": "ooo.job"}), ("task-started", ok, 2, {}),
            ("task-retried", ok, 3, {"exception": "IOError('busy')"}), ("task-received", ok, 4, {"name": "ooo.job"}),
            ("task-started", ok, 5, {}), ("task-succeeded", ok, 6, {"result": "'done'", "runtime": 0.5}),
            ("task-started", failed, 1, {}), ("task-failed", failed, 2, {"exception": "KeyError('x')"})]
    first = [life[6], life[3], life[8]]  # the newest first, written before the rest arrive
    rest = [life[2], life[0], life[7], life[5], life[1], life[4]]
    with Connection(stack.redis_url) as conn:
        dispatcher = celery_app.events.Dispatcher(conn, hostname="ooo@test", enabled=True)
        for burst in (first, rest):
            for kind, task_id, dt, fields in burst:
                dispatcher.send(kind, uuid=task_id, timestamp=t0 + dt, **fields)
            wait_for(lambda: _task(redis_client, ok, "SUCCESS") and _task(redis_client, failed, "FAILURE"),
                     timeout_s=TIMEOUT_S)
    wait_for(lambda: len(history.timeline(redis_client, ok)) == 7, timeout_s=TIMEOUT_S)
    task = _task(redis_client, ok)
    assert task["state"] == "SUCCESS" and task["result"] == "'done'" and task["name"] == "ooo.job"
    assert task["sent_at"] == pytest.approx(t0) and task["finished_at"] == pytest.approx(t0 + 6)
    assert task["reason"] == "IOError('busy')" and task["args"] == '["late.csv"]'
    assert [e["state"] for e in history.timeline(redis_client, ok)] == [
        "SENT", "RECEIVED", "STARTED", "RETRY", "RECEIVED", "STARTED", "SUCCESS"]
    wait_for(lambda: len(history.timeline(redis_client, failed)) == 2, timeout_s=TIMEOUT_S)
    assert _task(redis_client, failed)["state"] == "FAILURE"
    with pytest.raises(InvalidInput, match="argsrepr"):  # no arguments seen: cannot be re-sent
        actions.retry(celery_app, redis_client, failed, WHO)
    assert history.list_tasks(redis_client, history.TaskFilter(state="STARTED", name="ooo.job")) == []


def test_ingester_killed_and_restarted_resumes_and_settles_what_finished_meanwhile(stack, redis_client):
    wait_for(lambda: any(w.hostname == stack.worker_name and w.online for w in workers.list_workers(redis_client)),
             timeout_s=TIMEOUT_S)
    ids = stack.publish('print(json.dumps([inventory_app.audit_pause.delay(5.0).id, '
                        'inventory_app.restock.delay("sku-gap", 1).id]))')
    wait_for(lambda: _task(redis_client, ids[0], "STARTED"), timeout_s=TIMEOUT_S)
    stop_group(stack.procs["ingester"], signal.SIGKILL)
    # Both finish while the ingester is dead (on Redis their events are gone: pub/sub, as for Flower).
    wait_for(lambda: all('"SUCCESS"' in (redis_client.get(f"celery-task-meta-{t}") or "") for t in ids),
             timeout_s=TIMEOUT_S)
    assert _task(redis_client, ids[0])["state"] == "STARTED"
    restarted_at = time.time()
    stack.start_ingester()
    for task_id in ids:  # settled from the result backend at start
        task = wait_for(lambda: _task(redis_client, task_id, "SUCCESS"), timeout_s=TIMEOUT_S)
        assert task["name"] and task["finished_at"] and task["result"]
    stack.wait_capturing(redis_client, since=restarted_at)
    after = stack.publish('print(json.dumps([inventory_app.restock.delay("sku-after", i).id for i in range(3)]))')
    for task_id in after:  # and it resumed capturing
        task = wait_for(lambda: _task(redis_client, task_id, "SUCCESS"), timeout_s=TIMEOUT_S)
        assert task["sent_at"] and task["started_at"] and json.loads(task["args"])[0] == "sku-after"
