"""Several foreign Celery apps in one console, every action checked by its effect on their workers.

Two apps the console did not start, both `tests/foreign_app/ledger_app.py` (imports nothing of the
console), each with its own worker started with ``-E`` and its own event ingester
(``python -m app.monitor.events --app NAME``, reading MONITOR_APPS):

- "billing" on a second Redis server (broker db 0, results db 1), a prefork worker;
- "shop" on RabbitMQ, in a vhost of its own (results on the second Redis, db 2), a threads worker.

Publishers are plain Celery clients made here (as another service would publish).
"""
from __future__ import annotations

import base64
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
from celery import Celery
from celery.result import AsyncResult

from app.access import Identity, Role, audit
from app.errors import InvalidInput, PermissionDenied
from app.launcher import redis_server
from app.monitor import actions, app_queues, diagnose, workers
from app.monitor.apps import CONSOLE, MonitoredApp, MonitoredApps
from app.store import history, pauses
from tests.conftest import ROOT, wait_for

FOREIGN = Path(__file__).parent / "foreign_app"
TIMEOUT_S = 60
ADMIN = Identity("apps-admin", Role.ADMIN, "", "system")
OPERATOR = Identity("apps-operator", Role.OPERATOR, "", "system")
VIEWER = Identity("apps-viewer", Role.VIEWER, "", "system")
APPS = ["billing", "shop"]


def _spawn(args, env, log: Path, cwd=FOREIGN):
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc, timeout_s: float = 15):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _management(base_url: str, method: str, path: str, body: dict | None = None) -> None:
    """One RabbitMQ management API call (`base_url` carries the credentials)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    req = urllib.request.Request(f"{parts.scheme}://{parts.hostname}:{parts.port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json", "Authorization": "Basic " +
                                          base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()})
    urllib.request.urlopen(req, timeout=10).read()


_PUBLISHER = r"""
import json, sys
from celery import Celery
app = Celery("client", broker=sys.argv[1], backend=sys.argv[2])
app.conf.update(task_send_sent_event=sys.argv[3] == "1", broker_connection_retry_on_startup=True)
for line in sys.stdin:
    m = json.loads(line)
    print(app.send_task(m["name"], args=m["args"], queue=m["queue"], countdown=m.get("countdown")).id, flush=True)
"""


class Publisher:
    """`send_task` through a plain Celery client running in a subprocess (one JSON line per task)."""

    def __init__(self, broker: str, backend: str, sent_events: bool):
        self.proc = subprocess.Popen([sys.executable, "-c", _PUBLISHER, broker, backend, "1" if sent_events else "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=FOREIGN)

    def send(self, name: str, args: list, queue: str, countdown: float | None = None) -> str:
        self.proc.stdin.write(json.dumps({"name": name, "args": args, "queue": queue, "countdown": countdown}) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(15)


class Fleet:
    """The two foreign apps, their workers and ingesters, and the console's registry of them."""

    def __init__(self, tmp: Path, redis2: str, amqp_vhost_url: str, celery_app):
        self.tmp, self.tag = tmp, uuid.uuid4().hex[:6]
        self.idle = f"idle_{self.tag}"  # declared for both apps, never consumed
        self.urls = {"billing": (f"{redis2}/0", f"{redis2}/1"), "shop": (amqp_vhost_url, f"{redis2}/2")}
        queues = ("ledger_a", "ledger_b", self.idle)
        self.monitor_apps = ";".join(f"{n}={b}|{r}|{','.join(queues)}" for n, (b, r) in self.urls.items())
        own = MonitoredApp(CONSOLE, celery_app.conf.broker_url, celery_app.conf.result_backend)
        own._celery = celery_app
        self.registry = MonitoredApps([own, *(MonitoredApp(n, b, r, queues) for n, (b, r) in self.urls.items())])
        self.hosts = {n: f"{n}-{self.tag}@localhost" for n in APPS}
        self.procs: list[subprocess.Popen] = []
        self.clients = {n: self._client(n) for n in APPS}  # reads results, inspects: publishes nothing
        self._publishers: dict[tuple[str, bool], Publisher] = {}

    def _client(self, name: str) -> Celery:
        broker, backend = self.urls[name]
        return Celery(f"{name}-reader", broker=broker, backend=backend, set_as_current=False)

    def publisher(self, name: str, sent_events: bool = True) -> "Publisher":
        """A plain Celery client of app `name` in a process of its own (this test process has the
        console's publish hooks installed, which would stamp and record what it sends)."""
        key = (name, sent_events)
        if key not in self._publishers:
            self._publishers[key] = Publisher(*self.urls[name], sent_events)
        return self._publishers[key]

    def env(self, name: str | None = None) -> dict:
        env = dict(os.environ, MONITOR_APPS=self.monitor_apps, PYTHONUNBUFFERED="1")
        if name:
            env.update(LEDGER_BROKER_URL=self.urls[name][0], LEDGER_BACKEND_URL=self.urls[name][1])
        return env

    def start_worker(self, name: str, host: str, queues: str, pool: str):
        proc = _spawn([sys.executable, "-m", "celery", "-A", "ledger_app", "worker", "-E", "-Q", queues, "-P", pool,
                       "-c", "2", "-n", host, "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
                      self.env(name), self.tmp / f"{host}.log")
        self.procs.append(proc)
        return proc

    def start(self):
        for name in APPS:
            self.procs.append(_spawn([sys.executable, "-m", "app.monitor.events", "--app", name, "--no-enable-events",
                                      "--no-writer-process", "--loglevel", "WARNING"],
                                     self.env(), self.tmp / f"ingester-{name}.log", cwd=ROOT))
        self.start_worker("billing", self.hosts["billing"], "ledger_a,ledger_b", "prefork")
        self.start_worker("shop", self.hosts["shop"], "ledger_a,ledger_b", "threads")

    def worker(self, client, name: str, host: str | None = None):
        host = host or self.hosts[name]
        return next((w for w in workers.list_workers(client) if w.hostname == host and w.online and w.queues), None)

    def inspect(self, name: str, host: str | None = None):
        return self.clients[name].control.inspect(destination=[host or self.hosts[name]], timeout=2)

    def stop(self):
        for proc in reversed(self.procs):
            _stop(proc)
        for pub in self._publishers.values():
            pub.close()
        for app in self.clients.values():
            app.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, rabbitmq, celery_app, redis_url):
    from app.store.clients import redis_from_url

    redis_client = redis_from_url(redis_url)
    tmp = tmp_path_factory.mktemp("apps")
    port = redis_server.free_port()
    redis2 = redis_server.start(port, tmp / "redis2", persist=False)
    vhost = f"shop{uuid.uuid4().hex[:6]}"
    if rabbitmq.management_url:
        _management(rabbitmq.management_url, "PUT", f"/api/vhosts/{vhost}")
        _management(rabbitmq.management_url, "PUT", f"/api/permissions/{vhost}/guest",
                    {"configure": ".*", "write": ".*", "read": ".*"})
        from urllib.parse import urlsplit

        parts = urlsplit(rabbitmq.amqp_url)
        amqp = f"{parts.scheme}://{parts.netloc}/{vhost}"
    else:  # a node given by RABBITMQ_URL without its management API: its own vhost as given
        amqp = rabbitmq.amqp_url
    f = Fleet(tmp, f"redis://127.0.0.1:{port}", amqp, celery_app)
    try:
        f.start()
        for name in APPS:  # each worker known from its own app's events, with its queues
            wait_for(lambda n=name: f.worker(redis_client, n), timeout_s=TIMEOUT_S)
        yield f
    finally:
        f.stop()
        if rabbitmq.management_url:
            _management(rabbitmq.management_url, "DELETE", f"/api/vhosts/{vhost}")
        redis2.terminate()
        redis2.wait(10)


def _task(client, task_id, state=None):
    task = history.get_task(client, task_id)
    return task if task and (state is None or task.get("state") == state) else None


def _last_audit(client, action: str) -> dict:
    return next(e for e in audit.recent(client, 50) if e["action"] == action)


@pytest.mark.parametrize("name", APPS)
def test_each_app_s_tasks_workers_and_queues_carry_their_app(fleet, redis_client, name):
    word = f"acct{fleet.tag}{name}"
    tid = fleet.publisher(name).send("ledger.post", [word, 3], queue="ledger_b")
    task = wait_for(lambda: _task(redis_client, tid, "SUCCESS"), timeout_s=TIMEOUT_S)
    assert (task["app"], task["queue"], task["worker"]) == (name, "ledger_b", fleet.hosts[name])
    assert [t["id"] for t in history.list_tasks(redis_client, history.TaskFilter(app=name, search=word))] == [tid]
    assert history.list_tasks(redis_client, history.TaskFilter(app="console", search=word)) == []
    w = fleet.worker(redis_client, name)
    assert (w.app, w.source, sorted(w.queues)) == (name, "events", ["ledger_a", "ledger_b"])
    assert "ledger_b" in app_queues.names(redis_client, fleet.registry.get(name))
    from app.store import ingest

    progress = wait_for(lambda: (p := ingest.progress(redis_client, [name]).get(name)) and p["events"] and p,
                        timeout_s=TIMEOUT_S)  # reported every 2 s
    assert progress["at"] - progress["event_ts"] < 30


@pytest.mark.parametrize("name", APPS)
def test_revoke_is_broadcast_on_the_task_s_own_broker(fleet, redis_client, name):
    tid = fleet.publisher(name).send("ledger.post", ["later", 1], queue="ledger_a", countdown=60)
    wait_for(lambda: _task(redis_client, tid, "RECEIVED"), timeout_s=TIMEOUT_S)  # held by the worker (ETA)
    with pytest.raises(PermissionDenied):
        actions.revoke(fleet.registry, redis_client, tid, VIEWER)
    out = actions.revoke(fleet.registry, redis_client, tid, OPERATOR)
    assert out["app"] == name
    wait_for(lambda: tid in (fleet.inspect(name).revoked() or {}).get(fleet.hosts[name], []), timeout_s=TIMEOUT_S)
    entry = _last_audit(redis_client, "revoke")
    assert (entry["target"], entry["detail"]["app"], entry["who"]) == (tid, name, OPERATOR.name)


def _process_gone(pid: int) -> bool:
    """True when process `pid` (on this machine) has exited: no such process, or a zombie its
    parent has not reaped yet (it runs nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _running_pid(fleet, tid) -> int:
    mark = fleet.clients["billing"].backend.client
    return int(wait_for(lambda: mark.get(f"pid:{tid}"), timeout_s=TIMEOUT_S))


def test_terminate_stops_the_running_task_on_the_foreign_worker(fleet, redis_client):
    pub, host = fleet.clients["billing"], fleet.hosts["billing"]
    done_mark = pub.backend.client
    control = fleet.publisher("billing").send("ledger.settle", [0.5], queue="ledger_a")  # runs to the end
    tid = fleet.publisher("billing").send("ledger.settle", [4], queue="ledger_a")
    wait_for(lambda: _task(redis_client, tid, "STARTED"), timeout_s=TIMEOUT_S)
    pid = _running_pid(fleet, tid)
    assert tid in [t["id"] for t in (fleet.inspect("billing").active() or {}).get(host, [])]
    actions.revoke(fleet.registry, redis_client, tid, OPERATOR, terminate=True)
    done = wait_for(lambda: _task(redis_client, tid, "REVOKED"), timeout_s=TIMEOUT_S)
    assert done["reason"] == "terminated" and AsyncResult(tid, app=pub).state == "REVOKED"
    wait_for(lambda: tid not in [t["id"] for t in (fleet.inspect("billing").active() or {}).get(host, [])],
             timeout_s=TIMEOUT_S)
    wait_for(lambda: _process_gone(pid), timeout_s=10)  # SIGTERM ended the pool process that ran it
    assert AsyncResult(control, app=pub).get(timeout=TIMEOUT_S) == 0.5 and done_mark.get(f"settled:{control}")
    time.sleep(5)  # past the terminated run's 4 s: it never finished
    assert done_mark.get(f"settled:{tid}") is None
    entry = _last_audit(redis_client, "terminate")
    assert (entry["detail"]["app"], entry["detail"]["signal"]) == ("billing", "SIGTERM")


def test_kill_ends_a_run_that_ignores_sigterm(fleet, redis_client):
    done_mark = fleet.clients["billing"].backend.client
    # SIGTERM is ignored by a run that traps it: it goes on to the end, and Celery forgets the
    # request once it sent the signal, so a later revoke cannot reach it
    stubborn = fleet.publisher("billing").send("ledger.settle", [3, True], queue="ledger_a")
    wait_for(lambda: _task(redis_client, stubborn, "STARTED"), timeout_s=TIMEOUT_S)
    pid = _running_pid(fleet, stubborn)
    actions.revoke(fleet.registry, redis_client, stubborn, OPERATOR, terminate=True)
    time.sleep(1.0)
    assert not _process_gone(pid)
    wait_for(lambda: done_mark.get(f"settled:{stubborn}"), timeout_s=TIMEOUT_S)
    # SIGKILL cannot be ignored: the pool process is gone at once, the run never ends
    tid = fleet.publisher("billing").send("ledger.settle", [5, True], queue="ledger_a")
    wait_for(lambda: _task(redis_client, tid, "STARTED"), timeout_s=TIMEOUT_S)
    pid = _running_pid(fleet, tid)
    with pytest.raises(InvalidInput):
        actions.revoke(fleet.registry, redis_client, tid, OPERATOR, terminate=True, signal="SIGSTOP")
    out = actions.revoke(fleet.registry, redis_client, tid, OPERATOR, terminate=True, signal="SIGKILL")
    assert (out["app"], out["signal"]) == ("billing", "SIGKILL")
    wait_for(lambda: _process_gone(pid), timeout_s=10)
    assert wait_for(lambda: _task(redis_client, tid, "REVOKED"), timeout_s=TIMEOUT_S)["reason"] == "terminated"
    time.sleep(5.5)  # past the run's 5 s: it never finished
    assert done_mark.get(f"settled:{tid}") is None
    assert _last_audit(redis_client, "terminate")["detail"]["signal"] == "SIGKILL"


@pytest.mark.parametrize("name", APPS)
def test_retry_runs_on_the_foreign_worker_on_the_original_queue(fleet, redis_client, celery_app, name):
    tid = fleet.publisher(name).send("ledger.post", [f"r-{name}", 7], queue="ledger_b")
    wait_for(lambda: _task(redis_client, tid, "SUCCESS"), timeout_s=TIMEOUT_S)
    out = actions.retry(fleet.registry, redis_client, tid, OPERATOR)
    assert (out["app"], out["queue"]) == (name, "ledger_b")
    result = AsyncResult(out["new_id"], app=fleet.clients[name]).get(timeout=TIMEOUT_S)
    assert result == {"account": f"r-{name}", "amount": 7, "queue": "ledger_b"}  # in the foreign backend
    assert AsyncResult(out["new_id"], app=celery_app).state == "PENDING"  # not in the console's
    # SUCCESS comes from the app's events, retry_of from this process's publish record (its writer
    # batches in a thread of its own): either may land first
    again = wait_for(lambda: (t := _task(redis_client, out["new_id"], "SUCCESS")) and t.get("retry_of") and t,
                     timeout_s=TIMEOUT_S)
    assert (again["app"], again["worker"], again["retry_of"]) == (name, fleet.hosts[name], tid)
    assert _last_audit(redis_client, "retry")["detail"]["app"] == name


def test_retry_of_a_task_with_no_known_queue_asks_for_one(fleet, redis_client):
    quiet = fleet.publisher("billing", sent_events=False)  # no task-sent event: the queue is never recorded
    tid = quiet.send("ledger.post", ["q?", 1], queue="ledger_b")
    task = wait_for(lambda: _task(redis_client, tid, "SUCCESS"), timeout_s=TIMEOUT_S)
    assert task.get("queue") is None
    with pytest.raises(InvalidInput, match="queue of .* is unknown .*: ledger_a, ledger_b"):
        actions.retry(fleet.registry, redis_client, tid, OPERATOR)
    out = actions.retry(fleet.registry, redis_client, tid, OPERATOR, queue="ledger_b")
    assert AsyncResult(out["new_id"], app=fleet.clients["billing"]).get(timeout=TIMEOUT_S)["queue"] == "ledger_b"


def test_pause_holds_a_queue_on_every_worker_of_the_app_and_resume_drains_it(fleet, redis_client):
    pub, reg, q = fleet.clients["billing"], fleet.registry, "ledger_b"
    send = fleet.publisher("billing").send
    with pytest.raises(PermissionDenied):
        actions.pause_queue(reg, redis_client, q, OPERATOR, ("ledger_a", q), "billing")
    actions.pause_queue(reg, redis_client, q, ADMIN, ("ledger_a", q), "billing")
    assert pauses.paused(redis_client, "billing")[q]["workers"] == [fleet.hosts["billing"]]
    assert q not in pauses.names(redis_client)  # the console's own queues are not paused
    # a worker of the app started during the pause: its ingester cancels the paused queue on it
    late = f"late-{fleet.tag}@localhost"
    proc = fleet.start_worker("billing", late, "ledger_b", "threads")
    try:
        wait_for(lambda: late in pauses.paused(redis_client, "billing")[q].get("workers", []), timeout_s=TIMEOUT_S)
        wait_for(lambda: not [x for x in (fleet.inspect("billing", late).active_queues() or {}).get(late, [])
                              if x["name"] == q], timeout_s=TIMEOUT_S)
        held = [send("ledger.post", ["held", i], queue=q) for i in range(3)]
        runs = send("ledger.post", ["runs", 1], queue="ledger_a")
        assert AsyncResult(runs, app=pub).get(timeout=TIMEOUT_S)["queue"] == "ledger_a"
        time.sleep(1.0)
        broker = reg.get("billing").broker()
        try:
            assert broker.depths([q]).ready[q] == 3
        finally:
            broker.close()
        assert all(AsyncResult(t, app=pub).state == "PENDING" for t in held)
        out = actions.resume_queue(reg, redis_client, q, ADMIN, "billing")
        assert set(out["replies"]) == {fleet.hosts["billing"], late}
        assert [AsyncResult(t, app=pub).get(timeout=TIMEOUT_S)["queue"] for t in held] == [q] * 3
        assert q not in pauses.names(redis_client, "billing")
        assert _last_audit(redis_client, "queue_resume")["detail"]["app"] == "billing"
        # and a foreign worker shut down from the console (its app from its record)
        assert actions.shutdown_worker(reg, redis_client, late, ADMIN)["app"] == "billing"
        proc.wait(TIMEOUT_S)
    finally:
        _stop(proc)


def test_rate_and_time_limits_and_pool_size_show_in_the_foreign_workers(fleet, redis_client):
    reg = fleet.registry
    with pytest.raises(PermissionDenied):
        actions.set_rate_limit(reg, redis_client, "ledger.post", "7/m", OPERATOR, "shop")
    assert actions.set_rate_limit(reg, redis_client, "ledger.post", "7/m", ADMIN, "shop")["ok"]
    actions.set_time_limit(reg, redis_client, "ledger.post", 20, 30, ADMIN, "shop")
    shown = (fleet.inspect("shop").registered("rate_limit", "soft_time_limit", "time_limit") or {})[fleet.hosts["shop"]]
    line = next(x for x in shown if x.startswith("ledger.post"))
    assert "rate_limit=7/m" in line and "soft_time_limit=20" in line and "time_limit=30" in line
    assert _last_audit(redis_client, "rate_limit")["detail"]["app"] == "shop"
    with pytest.raises(InvalidInput, match="soft limit"):
        actions.set_time_limit(reg, redis_client, "ledger.post", 40, 30, ADMIN, "shop")
    # the worker's app comes from its record: no app named
    before = len(fleet.inspect("billing").stats()[fleet.hosts["billing"]]["pool"]["processes"])
    assert actions.pool_resize(reg, redis_client, fleet.hosts["billing"], 1, ADMIN)["app"] == "billing"
    wait_for(lambda: len(fleet.inspect("billing").stats()[fleet.hosts["billing"]]["pool"]["processes"]) == before + 1,
             timeout_s=TIMEOUT_S)
    actions.pool_resize(reg, redis_client, fleet.hosts["billing"], -1, ADMIN)


@pytest.mark.parametrize("name", APPS)
def test_latency_of_messages_from_a_plain_client_is_shown_and_exported(fleet, redis_client, celery_app, name):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from app.monitor.metrics import ConsoleCollector
    from config.celery_settings import QUEUES

    for i in range(2):
        fleet.publisher(name, sent_events=False).send("ledger.post", ["idle", i], queue=fleet.idle)
    mon = fleet.registry.get(name)
    ws = workers.list_workers(redis_client)

    def idle():
        return next(d for d in app_queues.details(redis_client, mon, ws, [fleet.idle]))
    first = idle()
    assert first.ready >= 2 and first.latency_s is not None and first.latency_lower_bound
    time.sleep(1.2)
    assert idle().latency_s >= 1.0
    prom = CollectorRegistry()
    prom.register(ConsoleCollector(redis_client, redis_client, QUEUES, apps=fleet.registry))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(generate_latest(prom).decode()) for s in fam.samples}
    labels = (("app", name), ("queue", fleet.idle))
    assert samples[("celery_console_queue_latency_seconds", labels)] >= 1.0
    assert samples[("celery_console_queue_latency_lower_bound", labels)] == 1
    assert samples[("celery_console_queue_ready", labels)] >= 2
    assert samples[("celery_console_workers_online", (("app", name),))] >= 1
    assert samples[("celery_console_broker_up", (("app", name),))] == 1


def test_latency_from_the_history_sent_time_is_exact(fleet, redis_client):
    q = f"sent_{fleet.tag}"
    tid = fleet.publisher("billing").send("ledger.post", ["s", 1], queue=q)
    sent = wait_for(lambda: _task(redis_client, tid, "SENT"), timeout_s=TIMEOUT_S)
    d = app_queues.details(redis_client, fleet.registry.get("billing"), [], [q])[0]
    assert not d.latency_lower_bound and d.latency_s >= time.time() - sent["sent_at"] - 1.0


def test_queue_age_rule_on_a_foreign_queue_fires_and_is_mailed(fleet, redis_client, celery_app, celery_worker,
                                                               smtp_server, mail_settings):
    from app.alerts import rules
    from app.alerts.rules import Rule
    from app.store import alerts as alert_store
    from app.store import keys
    from app.tasks import alert_tasks
    from config.settings import get_settings

    smtp = smtp_server()
    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, ALERT_EMAIL_TO="ops@example.com",
                  MONITOR_APPS=fleet.monitor_apps)
    fleet.publisher("shop", sent_events=False).send("ledger.post", ["old", 1], queue=fleet.idle)
    rule = Rule(id=f"age-{fleet.tag}", name="Shop orders wait", kind="queue_age",
                params={"queue": "shop:idle_*", "threshold_s": 0.5, "for_s": 0}, severity="warning")
    redis_client.delete(keys.ALERT_SEEDED)
    rules.save(redis_client, rule)
    try:
        app_queues.details(redis_client, fleet.registry.get("shop"), [], [fleet.idle])  # first seen now
        time.sleep(1.0)
        written = alert_tasks.run_evaluation(celery_app, redis_client, redis_client, get_settings())
        fired = next(e for e in written if e["rule_id"] == rule.id)
        assert f"shop:{fleet.idle}" in fired["subjects"] and "at least" in fired["message"]
        mail = wait_for(lambda: next((m for m in smtp.handler.messages if b"Shop orders wait" in m.data), None),
                        timeout_s=TIMEOUT_S)
        assert mail.rcpt_tos == ["ops@example.com"]
        assert alert_store.evaluated_at(redis_client) >= time.time() - 30
    finally:
        rules.delete(redis_client, rule.id)


def test_why_stuck_reads_celery_s_view_from_the_task_s_own_backend(fleet, redis_client, celery_app):
    tid = fleet.publisher("shop").send("ledger.post", ["d", 1], queue="ledger_a")
    wait_for(lambda: _task(redis_client, tid, "SUCCESS"), timeout_s=TIMEOUT_S)
    report = diagnose.diagnose(fleet.registry, redis_client, redis_client, tid)
    assert (report["app"], report["celery_state"]) == ("shop", "SUCCESS")
    assert not next(f for f in report["findings"] if f.code == "result_expired").holds
    assert AsyncResult(tid, app=celery_app).state == "PENDING"  # what the console's own backend would say


def test_beat_s_queue_size_task_records_every_app_s_queues_for_the_charts(fleet, redis_client, celery_worker):
    from app.store import queue_history
    from app.tasks import maintenance_tasks
    from config.settings import get_settings

    fleet.publisher("billing", sent_events=False).send("ledger.post", ["chart", 1], queue=fleet.idle)
    os.environ["MONITOR_APPS"] = fleet.monitor_apps
    get_settings.cache_clear()
    try:
        out = maintenance_tasks.monitor_queue_sizes.delay().get(timeout=TIMEOUT_S)  # the console's worker runs it
    finally:
        os.environ.pop("MONITOR_APPS")
        get_settings.cache_clear()
    assert f"billing:{fleet.idle}" in out["stuck"]  # messages, and no worker of billing consumes it
    points = queue_history.series(redis_client, f"billing:{fleet.idle}")
    assert points and points[-1][1] >= 1
