"""The HTTP API on a foreign Celery app on its own broker: revoke, terminate and retry through the API,
each checked on the foreign worker (its revoked list, its pool process, its result backend).

The foreign app is `tests/foreign_app/ledger_app.py` ("billing") on a second Redis server, with its
own worker (prefork, ``-E``) and event ingester, started with the multi-app tests' `Fleet`. The API
is served as in production (uvicorn in a thread) with the console's app and "billing" monitored.
"""
from __future__ import annotations

import sys
import threading
import time

import pytest
import requests
from celery.result import AsyncResult

from app.launcher import redis_server
from app.monitor.apps import CONSOLE, MonitoredApps
from tests.conftest import ROOT, wait_for
from tests.test_monitor_apps_live import TIMEOUT_S, Fleet, _last_audit, _process_gone, _running_pid, _spawn, _task

APP = "billing"


@pytest.fixture(scope="module")
def billing(tmp_path_factory, celery_app, redis_url):
    """A `Fleet` running only "billing" (second Redis: broker db 0, results db 1)."""
    from app.store.clients import redis_from_url

    client = redis_from_url(redis_url)
    tmp = tmp_path_factory.mktemp("api-foreign")
    port = redis_server.free_port()
    redis2 = redis_server.start(port, tmp / "redis2", persist=False)
    fleet = Fleet(tmp, f"redis://127.0.0.1:{port}", "amqp://guest:guest@127.0.0.1:1/unused", celery_app)
    broker, backend = fleet.urls[APP]
    fleet.monitor_apps = f"{APP}={broker}|{backend}|ledger_a,ledger_b"
    try:
        fleet.procs.append(_spawn([sys.executable, "-m", "app.monitor.events", "--app", APP, "--no-enable-events",
                                   "--no-writer-process", "--loglevel", "WARNING"], fleet.env(),
                                  tmp / "ingester.log", cwd=ROOT))
        fleet.start_worker(APP, fleet.hosts[APP], "ledger_a,ledger_b", "prefork")
        wait_for(lambda: fleet.worker(client, APP), timeout_s=TIMEOUT_S)
        yield fleet
    finally:
        fleet.stop()
        redis2.terminate()
        redis2.wait(10)


@pytest.fixture(scope="module")
def foreign_api(billing):
    """Base URL of an API whose monitored apps are the console's and "billing"."""
    import uvicorn

    from app.api.server import build_app

    registry = MonitoredApps([billing.registry.get(CONSOLE), billing.registry.get(APP)])
    port = redis_server.free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(apps=registry), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="api-foreign", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout_s=20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _post(base, token, path, **params):
    return requests.post(base + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _get(base, token, path, **params):
    return requests.get(base + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_revoke_through_the_api_reaches_the_foreign_worker(billing, foreign_api, redis_client, person):
    _, viewer = person("viewer")
    who, token = person("operator")
    tid = billing.publisher(APP).send("ledger.post", ["later", 1], queue="ledger_a", countdown=60)
    wait_for(lambda: _task(redis_client, tid, "RECEIVED"), timeout_s=TIMEOUT_S)  # held by the worker (ETA)
    assert _post(foreign_api, viewer, f"/api/task/revoke/{tid}").status_code == 403
    r = _post(foreign_api, token, f"/api/task/revoke/{tid}")
    assert r.status_code == 200 and r.json() == {"message": f"Revoked '{tid}'"}
    host = billing.hosts[APP]
    wait_for(lambda: tid in (billing.inspect(APP).revoked() or {}).get(host, []), timeout_s=TIMEOUT_S)
    entry = _last_audit(redis_client, "revoke")
    assert (entry["target"], entry["detail"]["app"]) == (tid, APP) and entry["who"].startswith(who)


def test_terminate_through_the_api_stops_the_run_on_the_foreign_worker(billing, foreign_api, redis_client, person):
    _, token = person("operator")
    done_mark = billing.clients[APP].backend.client
    tid = billing.publisher(APP).send("ledger.settle", [4], queue="ledger_a")
    wait_for(lambda: _task(redis_client, tid, "STARTED"), timeout_s=TIMEOUT_S)
    pid = _running_pid(billing, tid)
    started = time.monotonic()
    r = _post(foreign_api, token, f"/api/v1/tasks/{tid}/revoke", terminate="true")
    assert r.status_code == 200 and (r.json()["action"], r.json()["app"]) == ("terminate", APP)
    wait_for(lambda: _process_gone(pid), timeout_s=10)  # SIGTERM ended the pool process running it
    done = wait_for(lambda: _task(redis_client, tid, "REVOKED"), timeout_s=TIMEOUT_S)
    assert done["reason"] == "terminated" and AsyncResult(tid, app=billing.clients[APP]).state == "REVOKED"
    time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))  # past the run's 4 s: it never finished
    assert done_mark.get(f"settled:{tid}") is None
    assert _last_audit(redis_client, "terminate")["detail"]["app"] == APP


def test_retry_through_the_api_runs_on_the_foreign_worker_and_its_result_is_read_there(
        billing, foreign_api, redis_client, celery_app, person):
    _, token = person("operator")
    tid = billing.publisher(APP).send("ledger.post", ["r-api", 7], queue="ledger_b")
    wait_for(lambda: _task(redis_client, tid, "SUCCESS"), timeout_s=TIMEOUT_S)
    r = _post(foreign_api, token, f"/api/v1/tasks/{tid}/retry")
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["app"], out["queue"]) == (APP, "ledger_b")
    expected = {"account": "r-api", "amount": 7, "queue": "ledger_b"}
    assert AsyncResult(out["new_id"], app=billing.clients[APP]).get(timeout=TIMEOUT_S) == expected
    assert AsyncResult(out["new_id"], app=celery_app).state == "PENDING"  # not in the console's backend
    wait_for(lambda: (t := _task(redis_client, out["new_id"], "SUCCESS")) and t.get("app") == APP, timeout_s=TIMEOUT_S)
    # Flower's result route reads the task's own app's backend
    result = _get(foreign_api, token, f"/api/task/result/{out['new_id']}").json()
    assert (result["state"], result["result"]) == ("SUCCESS", expected)
    # workers and queue lengths of every monitored app, each naming its app
    assert billing.hosts[APP] in _get(foreign_api, token, "/api/workers", app=APP).json()
    queues = _get(foreign_api, token, "/api/queues/length").json()["active_queues"]
    assert {(q["app"], q["name"]) for q in queues} >= {(APP, "ledger_a"), (APP, "ledger_b"), (CONSOLE, "default_queue")}
    assert _get(foreign_api, token, "/api/queues/length", app="nowhere").status_code == 404
