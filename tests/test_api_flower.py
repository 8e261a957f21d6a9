"""Flower compatibility, against the real thing: Flower 2.2 runs as a subprocess on the session's
Redis beside the session worker, and the console's API answers the same requests about the same
worker and tasks. Route by route, the status codes, the JSON keys and the value types must agree
(a value may be null on one side: Flower leaves unseen fields null, the history fills what it
knows). Then a script written for Flower's documented API runs unchanged against both.

Both accept the same HTTP Basic credentials: Flower's ``--basic-auth`` and a console account with
that name and password."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests

from app.access import accounts, identity
from tests.conftest import ROOT, wait_for

HEALTH = "app.tasks.maintenance_tasks.health_check"
PASSWORD = "flower and console"


@pytest.fixture(scope="module")
def flower(redis_url, tmp_path_factory, celery_worker):
    """(Flower's base URL, console account name): Flower with --basic-auth=<name>:PASSWORD."""
    from app.launcher.redis_server import free_port
    from app.store.clients import redis_from_url

    client = redis_from_url(redis_url)
    name = f"flower-{uuid.uuid4().hex[:6]}"
    accounts.add(client, identity.system("tests"), name, "admin", PASSWORD)
    port = free_port()
    log = open(tmp_path_factory.mktemp("flower") / "flower.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config.celery_config", "flower", f"--port={port}",
                             "--address=127.0.0.1", f"--basic-auth={name}:{PASSWORD}", "--inspect_timeout=3000"],
                            cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=log, stderr=log,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        assert proc.poll() is None, "Flower exited; see its log"
        try:
            r = requests.get(url + "/api/workers", auth=(name, PASSWORD), timeout=5)
        except requests.ConnectionError:
            return False
        return r.status_code == 200 and celery_worker.hostname in r.json()
    wait_for(up, timeout_s=60, interval_s=0.5)
    yield url, name
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(15)
    log.close()
    accounts.remove(client, identity.system("tests"), name)
    client.close()


def _types(value) -> str:
    return "null" if value is None else "number" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else type(value).__name__


def _same_shape(flower_json, console_json, where: str) -> None:
    """Same keys, and per key the same JSON type (or null on either side)."""
    assert isinstance(console_json, type(flower_json)), (where, flower_json, console_json)
    if isinstance(flower_json, dict):
        assert set(flower_json) == set(console_json), (where, sorted(set(flower_json) ^ set(console_json)))
        for key in flower_json:
            a, b = _types(flower_json[key]), _types(console_json[key])
            assert a == b or "null" in (a, b), (where, key, flower_json[key], console_json[key])


class Pair:
    """The same request to Flower and to the console."""

    def __init__(self, flower_url: str, console_url: str, auth):
        self.urls, self.auth = (flower_url, console_url), auth

    def both(self, method: str, path: str, **kw) -> tuple[requests.Response, requests.Response]:
        return tuple(requests.request(method, base + path, auth=self.auth, timeout=30, **kw) for base in self.urls)


@pytest.fixture(scope="module")
def pair(flower, api_url):
    url, name = flower
    return Pair(url, api_url, (name, PASSWORD))


def _flower_sees(pair: Pair, task_id: str, state: str):
    def seen():
        r = requests.get(f"{pair.urls[0]}/api/task/info/{task_id}", auth=pair.auth, timeout=5)
        return r.status_code == 200 and r.json().get("state") == state
    wait_for(seen, timeout_s=30, interval_s=0.2)


def test_routes_agree_with_flower_on_status_keys_and_types(pair, celery_worker, celery_app):
    worker = celery_worker.hostname
    ok = celery_app.send_task(HEALTH)
    bad = celery_app.send_task(HEALTH, args=[1, 2, 3])  # TypeError in the worker: a FAILURE
    ok.get(timeout=60, propagate=False), bad.get(timeout=60, propagate=False)
    _flower_sees(pair, ok.id, "SUCCESS")
    _flower_sees(pair, bad.id, "FAILURE")
    from app import runtime

    runtime.get().writer.flush()

    # workers: the whole list, one worker, status flags, an unknown worker
    f, c = pair.both("GET", "/api/workers")
    assert f.status_code == c.status_code == 200 and worker in f.json() and worker in c.json()
    _same_shape(f.json()[worker], c.json()[worker], "workers[worker]")
    _same_shape(f.json()[worker]["stats"], c.json()[worker]["stats"], "workers[worker].stats")
    _same_shape(f.json()[worker]["active_queues"][0], c.json()[worker]["active_queues"][0], "active_queues[0]")
    names = [{q["name"] for q in side.json()[worker]["active_queues"]} for side in (f, c)]
    assert names[0] == names[1]
    f, c = pair.both("GET", "/api/workers", params={"status": "true"})
    assert f.status_code == c.status_code == 200 and f.json()[worker] is True and c.json()[worker] is True
    f, c = pair.both("GET", "/api/workers", params={"workername": worker})
    assert f.status_code == c.status_code == 200 and list(f.json()) == list(c.json()) == [worker]
    f, c = pair.both("GET", "/api/workers", params={"workername": "nobody@nowhere"})
    assert f.status_code == c.status_code == 404

    # tasks: list pages and filters, one task, results, types, queues
    for params in ({"limit": "20"}, {"limit": "5", "taskname": HEALTH}, {"limit": "5", "state": "FAILURE"},
                   {"limit": "5", "workername": worker}, {"limit": "5", "sort_by": "-received"}):
        f, c = pair.both("GET", "/api/tasks", params=params)
        assert f.status_code == c.status_code == 200, params
        common = set(f.json()) & set(c.json())
        assert common, (params, list(f.json())[:3], list(c.json())[:3])
        for tid in common:
            _same_shape(f.json()[tid], c.json()[tid], f"tasks{params}[{tid}]")
        if "state" in params:
            assert {t["state"] for t in c.json().values()} == {"FAILURE"}
    for side in pair.both("GET", "/api/tasks", params={"limit": "6"}):  # offset: the same list, one further on
        offset = requests.get(side.url.split("/api/")[0] + "/api/tasks", params={"limit": "5", "offset": "1"},
                              auth=pair.auth, timeout=30)
        assert offset.status_code == 200 and list(offset.json()) == list(side.json())[1:6]
    for params in ({"sort_by": "color"}, {"received_start": "yesterday"}):
        f, c = pair.both("GET", "/api/tasks", params=params)
        assert f.status_code == c.status_code == 400, params
    for tid, state in ((ok.id, "SUCCESS"), (bad.id, "FAILURE")):
        f, c = pair.both("GET", f"/api/task/info/{tid}")
        assert f.status_code == c.status_code == 200 and f.json()["state"] == c.json()["state"] == state
        _same_shape(f.json(), c.json(), f"task/info {state}")
        assert c.json()["worker"] == f.json()["worker"] == worker and c.json()["name"] == HEALTH
        f, c = pair.both("GET", f"/api/task/result/{tid}")
        assert f.status_code == c.status_code == 200
        _same_shape(f.json(), c.json(), f"task/result {state}")
    f, c = pair.both("GET", "/api/task/info/no-such-task")
    assert f.status_code == c.status_code == 404
    f, c = pair.both("GET", "/api/task/types")
    assert f.status_code == c.status_code == 200
    assert HEALTH in f.json()["task-types"] and HEALTH in c.json()["task-types"]
    f, c = pair.both("GET", "/api/queues/length")
    assert f.status_code == c.status_code == 200
    _same_shape(f.json(), c.json(), "queues/length")
    for entry in c.json()["active_queues"]:
        # one extra key names the queue's monitored app (the console's own here)
        assert set(entry) == {"name", "messages", "app"} and isinstance(entry["messages"], int)
        assert entry["app"] == "console"

    # sending tasks
    for route in ("async-apply", "send-task"):
        f, c = pair.both("POST", f"/api/task/{route}/{HEALTH}", json={})
        assert f.status_code == c.status_code == 200, route
        _same_shape(f.json(), c.json(), route)
    f, c = pair.both("POST", f"/api/task/apply/{HEALTH}", json={"args": [], "timeout": 30})
    assert f.status_code == c.status_code == 200
    _same_shape(f.json(), c.json(), "apply")
    assert f.json()["state"] == c.json()["state"] == "SUCCESS"
    f, c = pair.both("POST", "/api/task/async-apply/app.tasks.no_such_task", json={})
    assert f.status_code == c.status_code == 404
    f, c = pair.both("POST", f"/api/task/async-apply/{HEALTH}", json={"args": "not a list"})
    assert f.status_code == c.status_code == 400

    # control: revoke, abort, consumers, rate limit, time limit, pool, unknown worker
    victim = str(uuid.uuid4())
    f, c = pair.both("POST", f"/api/task/revoke/{victim}", params={"terminate": "false"})
    assert f.status_code == c.status_code == 200 and f.json() == c.json() == {"message": f"Revoked '{victim}'"}
    f, c = pair.both("POST", f"/api/task/abort/{victim}")
    assert f.status_code == c.status_code == 200 and f.json() == c.json()
    queue = f"api-conf-{uuid.uuid4().hex[:6]}"
    for route in ("add-consumer", "cancel-consumer"):
        f, c = pair.both("POST", f"/api/worker/queue/{route}/{worker}", params={"queue": queue})
        assert f.status_code == 200 and c.status_code in (200, 403), (route, f.text, c.text)
        if route == "add-consumer":  # the second add finds the queue consumed already: same reply text shape
            assert set(f.json()) == {"message"} and set(c.json()) <= {"message", "error"}
    f, c = pair.both("POST", f"/api/task/rate-limit/{HEALTH}", data={"ratelimit": "100/m", "workername": worker})
    assert f.status_code == c.status_code == 200 and set(f.json()) == set(c.json()) == {"message"}
    f, c = pair.both("POST", f"/api/task/rate-limit/{HEALTH}", data={"ratelimit": "", "workername": worker})
    assert f.status_code == c.status_code == 400
    f, c = pair.both("POST", f"/api/task/timeout/{HEALTH}", data={"soft": "100", "hard": "200", "workername": worker})
    assert f.status_code == c.status_code, (f.text, c.text)
    f, c = pair.both("POST", f"/api/worker/pool/grow/{worker}", params={"n": "1"})
    assert f.status_code == c.status_code, (f.text, c.text)
    from app.monitor import actions
    from app.store.clients import redis_from_url

    with redis_from_url(os.environ["REDIS_URL"]) as client:  # leave the session worker's limits as found
        actions.set_rate_limit(celery_app, client, HEALTH, "", identity.system("tests"))
        actions.set_time_limit(celery_app, client, HEALTH, None, None, identity.system("tests"),
                               destination=worker)
    for route in ("shutdown", "pool/restart", "pool/grow", "pool/shrink", "queue/add-consumer"):
        f, c = pair.both("POST", f"/api/worker/{route}/nobody@nowhere", params={"queue": "q", "min": 1, "max": 2})
        assert f.status_code == c.status_code == 404, route
    for base in pair.urls:
        assert requests.get(base + "/api/tasks", timeout=10).status_code == 401
        assert requests.get(base + "/api/tasks", auth=(pair.auth[0], "wrong"), timeout=10).status_code == 401


def flower_script(base: str, auth) -> dict:
    """What a team's deploy script does with Flower's documented API (requests, nothing else)."""
    out = {}
    workers = requests.get(f"{base}/api/workers", auth=auth, timeout=30).json()
    out["workers"] = sorted(workers)
    out["queues"] = sorted(q["name"] for q in requests.get(f"{base}/api/queues/length", auth=auth,
                                                           timeout=30).json()["active_queues"])
    sent = requests.post(f"{base}/api/task/async-apply/{HEALTH}", json={"args": []}, auth=auth, timeout=30)
    sent.raise_for_status()
    task_id = sent.json()["task-id"]
    deadline = time.time() + 60
    while True:
        result = requests.get(f"{base}/api/task/result/{task_id}", auth=auth, timeout=30).json()
        if result["state"] in ("SUCCESS", "FAILURE") or time.time() > deadline:
            break
        time.sleep(0.3)
    out["state"] = result["state"]
    out["status"] = result.get("result", {}).get("status") is not None
    while time.time() < deadline:
        info = requests.get(f"{base}/api/task/info/{task_id}", auth=auth, timeout=30)
        if info.status_code == 200 and info.json()["state"] == "SUCCESS":
            break
        time.sleep(0.3)
    out["info"] = (info.status_code, info.json()["name"], info.json()["state"])
    listed = requests.get(f"{base}/api/tasks", params={"taskname": HEALTH, "limit": 100}, auth=auth, timeout=30).json()
    out["listed"] = task_id in listed and listed[task_id]["state"] == "SUCCESS"
    out["failures_listed"] = all(t["state"] == "FAILURE" for t in requests.get(
        f"{base}/api/tasks", params={"state": "FAILURE", "limit": 10}, auth=auth, timeout=30).json().values())
    revoked = requests.post(f"{base}/api/task/revoke/{task_id}", auth=auth, timeout=30)
    out["revoked"] = revoked.status_code, revoked.json()["message"].startswith("Revoked")
    return out


def test_a_flower_script_runs_unchanged_against_the_console(pair, celery_worker):
    from app import runtime

    on_flower = flower_script(pair.urls[0], pair.auth)
    runtime.get().writer.flush()
    on_console = flower_script(pair.urls[1], pair.auth)
    assert on_flower["state"] == on_console["state"] == "SUCCESS"
    assert on_flower["info"] == on_console["info"] == (200, HEALTH, "SUCCESS")
    assert on_flower["listed"] and on_console["listed"]
    assert on_flower["failures_listed"] and on_console["failures_listed"]
    assert on_flower["revoked"] == on_console["revoked"] == (200, True)
    assert on_flower["status"] and on_console["status"]
    assert celery_worker.hostname in on_flower["workers"] and celery_worker.hostname in on_console["workers"]
