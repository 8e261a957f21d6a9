"""HTTP API access: tokens per person (issue, use, revoke, owner demoted, owner removed), the
`python -m app tokens` commands, HTTP Basic, the rate limit, and the refusals of every route family
(401 no/bad credentials, 403 role too low and audited, 404 unknown id, 400 bad input)."""
from __future__ import annotations

import time
import uuid

import pytest
import requests

from app.access import accounts, api_tokens, audit, identity
from app.access.roles import Role
from app.errors import InvalidInput
from app.store import workers as worker_store
from app.store import writer
from config.settings import Settings, get_settings

ADMIN = identity.system("tests")


def _get(api_url, path, token=None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(api_url + path, headers=headers, timeout=10, **kw)


def _post(api_url, path, token=None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(api_url + path, headers=headers, timeout=10, **kw)


def test_token_lifecycle_add_use_demote_remove_revoke(api_url, redis_client, person):
    name, token = person("admin")
    me = _get(api_url, "/api/v1/whoami", token)
    assert me.status_code == 200
    token_id = api_tokens.TOKEN_RE.match(token).group(1)
    assert me.json() == {**me.json(), "name": f"{name} (token {token_id})", "role": "admin", "auth": "token"}
    stored = redis_client.hgetall("cc:apitokens")
    assert token not in str(stored) and api_tokens.store.digest(token) in stored[token_id]

    # a second token capped at viewer: its owner's admin role does not lift it
    viewer_token, info = api_tokens.issue(redis_client, get_settings(), ADMIN, name, "viewer", "30d")
    assert info.role == "viewer" and info.expires_at > info.created_at + 29 * 86_400
    assert _get(api_url, "/api/v1/whoami", viewer_token).json()["role"] == "viewer"
    assert {t.id for t in api_tokens.list_tokens(redis_client, name)} == {token_id, info.id}

    # the owner demoted: the admin token shrinks at once; an admin act is refused and audited
    accounts.set_role(redis_client, ADMIN, name, "operator")
    assert _get(api_url, "/api/v1/whoami", token).json()["role"] == "operator"
    refused = _post(api_url, "/api/v1/queues/default_queue/pause", token)
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    denied = audit.read(redis_client, audit.AuditFilter(who=f"{name} (token {token_id})", outcome="denied"), 5)
    assert denied and denied[0]["action"] == "queue_pause"

    # revoke one token by id: it stops, the other still works
    assert api_tokens.revoke(redis_client, ADMIN, info.id) == 1
    assert _get(api_url, "/api/v1/whoami", viewer_token).status_code == 401
    assert _get(api_url, "/api/v1/whoami", token).status_code == 200

    # the owner removed: every token of theirs stops at once
    accounts.remove(redis_client, ADMIN, name)
    gone = _get(api_url, "/api/v1/whoami", token)
    assert gone.status_code == 401 and "WWW-Authenticate" in gone.headers
    assert "may no longer sign in" in gone.json()["error"]


def test_tokens_cli_add_list_revoke_by_name(redis_client, capsys):
    from app.__main__ import main

    name = f"cli-{uuid.uuid4().hex[:6]}"
    accounts.add(redis_client, ADMIN, name, "operator", "correct horse battery")
    try:
        assert main(["tokens", "add", name, "--role", "admin"]) == 1  # above the owner's role
        assert "cannot have the admin role" in capsys.readouterr().err
        assert main(["tokens", "add", name, "--expires", "12h"]) == 0
        first = capsys.readouterr().out.strip()
        assert main(["tokens", "add", name, "--role", "viewer"]) == 0
        second = capsys.readouterr().out.strip()
        assert api_tokens.TOKEN_RE.match(first) and api_tokens.TOKEN_RE.match(second)
        assert main(["tokens", "list", name]) == 0
        listed = capsys.readouterr().out
        assert listed.count(name) == 2 and first not in listed and "operator" in listed and "viewer" in listed
        assert main(["tokens", "add", "nobody-" + name]) == 1
        assert main(["tokens", "add", name, "--expires", "soon"]) == 1
        capsys.readouterr()
        assert main(["tokens", "revoke", name]) == 0
        assert "Revoked 2 token(s)" in capsys.readouterr().out
        assert api_tokens.list_tokens(redis_client, name) == []
        assert main(["tokens", "revoke", name]) == 1
        entries = audit.read(redis_client, audit.AuditFilter(text=name), 20)
        assert {"api_token_add", "api_token_revoke"} <= {e["action"] for e in entries}
        assert all(e["who"].startswith("cli:") for e in entries if e["action"].startswith("api_token"))
    finally:
        accounts.remove(redis_client, ADMIN, name)


def test_expired_token_and_rate_limit(redis_client):
    name = f"rl-{uuid.uuid4().hex[:6]}"
    accounts.add(redis_client, ADMIN, name, "viewer", "correct horse battery")
    try:
        s = Settings(API_RATE_LIMIT_PER_MIN=3)
        token, info = api_tokens.issue(redis_client, s, ADMIN, name, None, "1h", now=1_000.0)
        assert redis_client.ttl(f"cc:apitoken:{api_tokens.store.digest(token)}") == -2  # expired long ago
        with pytest.raises(api_tokens.TokenRefused, match="Unknown, expired"):
            api_tokens.identify(redis_client, s, token)
        token, info = api_tokens.issue(redis_client, s, ADMIN, name)
        now = 120.5 + 60 * (int(time.time()) // 60)
        for _ in range(3):
            assert api_tokens.identify(redis_client, s, token, now=now).role is Role.VIEWER
        with pytest.raises(api_tokens.RateLimited) as exc:
            api_tokens.identify(redis_client, s, token, now=now)
        assert 0 < exc.value.retry_after_s <= 60
        assert api_tokens.identify(redis_client, s, token, now=now + 60).role is Role.VIEWER  # next window
        with pytest.raises(api_tokens.TokenRefused, match="Malformed"):
            api_tokens.identify(redis_client, s, "cc_0000_short")
        with pytest.raises(InvalidInput):
            api_tokens.parse_duration("0d")
    finally:
        accounts.remove(redis_client, ADMIN, name)
        api_tokens.revoke(redis_client, ADMIN, name)


def test_http_basic_with_an_account_password(api_url, person):
    name, _ = person("viewer", "basic pass word")
    ok = requests.get(api_url + "/api/v1/whoami", auth=(name, "basic pass word"), timeout=10)
    assert ok.status_code == 200 and ok.json()["name"] == name and ok.json()["role"] == "viewer"
    bad = requests.get(api_url + "/api/v1/whoami", auth=(name, "wrong pass word"), timeout=10)
    assert bad.status_code == 401 and "Basic" in bad.headers["WWW-Authenticate"]
    garbled = requests.get(api_url + "/api/v1/whoami", headers={"Authorization": "Basic !!"}, timeout=10)
    assert garbled.status_code == 401


#: (method, path) of each route family, for the refusals every route shares.
FAMILIES = [
    ("GET", "/api/workers"), ("POST", "/api/worker/pool/grow/nobody@nowhere"), ("GET", "/api/tasks"),
    ("GET", "/api/task/types"), ("GET", "/api/queues/length"), ("GET", "/api/task/info/x"),
    ("GET", "/api/task/result/x"), ("POST", "/api/task/async-apply/app.tasks.nope"),
    ("POST", "/api/task/revoke/x"), ("POST", "/api/task/rate-limit/x"), ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/x"), ("GET", "/api/v1/failure-groups"), ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/schedules"), ("GET", "/api/v1/queues"), ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/queues/default_queue/pause"),
]


def test_every_route_family_refuses_no_or_bad_credentials(api_url):
    for method, path in FAMILIES:
        for headers in ({}, {"Authorization": "Bearer cc_00000000_" + "x" * 43}, {"Authorization": "Token abc"}):
            r = requests.request(method, api_url + path, headers=headers, timeout=10)
            assert r.status_code == 401, (method, path, headers, r.status_code)
            assert "error" in r.json() and "WWW-Authenticate" in r.headers
    bad_json = requests.post(api_url + "/api/task/apply/x", data="{nope", timeout=10,
                             headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 401  # credentials are checked before the body is read
    assert requests.get(api_url + "/api/openapi.json", timeout=10).status_code == 200  # the document is public


def test_viewer_is_refused_every_change_and_each_refusal_is_audited(api_url, redis_client, person):
    name, token = person("viewer")
    changes = [("/api/worker/pool/grow/{w}", {}), ("/api/worker/shutdown/{w}", {}),
               ("/api/worker/queue/add-consumer/{w}", {"queue": "q1"}),
               ("/api/task/async-apply/app.tasks.maintenance_tasks.health_check", None),
               ("/api/task/send-task/app.tasks.maintenance_tasks.health_check", None),
               ("/api/task/revoke/{t}", {}), ("/api/task/abort/{t}", {}),
               ("/api/task/rate-limit/app.tasks.maintenance_tasks.health_check",
                {"ratelimit": "1/m", "workername": "{w}"}),
               ("/api/v1/queues/default_queue/pause", {}), ("/api/v1/tasks/{t}/retry", {})]
    task_id = f"viewer-{uuid.uuid4().hex[:8]}"
    writer.write_batch(redis_client, [(task_id, "FAILURE", {"exception": "ValueError('x')"}, time.time(),
                                       {"name": "app.tests.api_viewer"})])
    worker = "celery@tests-api-viewer"
    worker_store.record_heartbeat(redis_client, worker, {"status": "online", "queues": "[]"}, time.time(), True)
    for path, params in changes:
        url = path.format(w=worker, t=task_id)
        params = {k: v.format(w=worker) for k, v in params.items()} if params is not None else None
        r = _post(api_url, url, token, params=params, json={} if params is None else None)
        assert r.status_code == 403 and "may not" in r.json()["error"], (url, r.status_code, r.text)
    denied = audit.read(redis_client, audit.AuditFilter(outcome="denied", text=name), 50)
    assert {e["action"] for e in denied} == {"pool_grow", "worker_shutdown", "add_consumer", "submit", "revoke",
                                             "abort", "rate_limit", "queue_pause", "retry"}
    assert len(denied) == len(changes)


def test_unknown_ids_answer_404_and_bad_input_400(api_url, person):
    _, token = person("admin")
    for path in ("/api/task/info/no-such-task", "/api/v1/tasks/no-such-task"):
        assert _get(api_url, path, token).status_code == 404
    for path in ("/api/worker/pool/grow/nobody@nowhere", "/api/worker/shutdown/nobody@nowhere",
                 "/api/v1/tasks/no-such-task/retry", "/api/v1/failure-groups/nope/retry",
                 "/api/v1/schedules/no-such-entry/run", "/api/v1/queues/no_such_queue/pause",
                 "/api/task/async-apply/app.tasks.no_such_task", "/api/task/send-task/app.tasks.no_such_task"):
        r = _post(api_url, path, token, json={})
        assert r.status_code == 404 and "error" in r.json(), (path, r.status_code, r.text)
    bad = [("GET", "/api/tasks?limit=ten"), ("GET", "/api/tasks?sort_by=color"),
           ("GET", "/api/tasks?received_start=yesterday"), ("GET", "/api/tasks?search=color:red"),
           ("GET", "/api/v1/tasks?limit=0"), ("GET", "/api/v1/tasks?cursor=abc"),
           ("GET", "/api/v1/tasks?until=not-a-time"), ("GET", "/api/v1/queues/default_queue/peek?n=1000"),
           ("GET", "/api/workers?status=maybe")]
    for method, path in bad:
        r = requests.request(method, api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 400 and r.json()["error"], (path, r.status_code, r.text)
    name = "app.tasks.maintenance_tasks.health_check"
    for body in ("[1, 2]", '{"args": 3}', '{"kwargs": []}', '{"exchange": "x"}', '{"countdown": "soon"}', "{nope"):
        r = requests.post(f"{api_url}/api/task/async-apply/{name}", data=body, timeout=10,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.status_code, r.text)
    assert _post(api_url, "/api/v1/queues/default_queue/resume", token).status_code == 400  # not paused


def test_api_process_serves_on_loopback_and_refuses_exposure_without_sign_in(redis_url):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from app.launcher import redis_server

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "REDIS_URL": redis_url, "API_ADDRESS": "0.0.0.0"}
    env.pop("CONSOLE_AUTH", None)
    refused = subprocess.run([sys.executable, "-m", "app.api"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "API_ADDRESS=0.0.0.0" in refused.stderr
    port = redis_server.free_port()
    env.update(API_ADDRESS="127.0.0.1", API_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "app.api"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
                time.sleep(0.2)
        assert r.status_code == 200 and "/api/tasks" in r.json()["paths"] and "/api/v1/tasks" in r.json()["paths"]
        assert requests.get(f"http://127.0.0.1:{port}/api/tasks", timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_api_sits_beside_the_pages_and_imports_no_streamlit_code():
    from tests.test_layers import import_graph

    graph = import_graph()
    assert "app.ui" not in graph["app.api"] and "app.api" not in graph.get("app.ui", set())
    assert {"app.access", "app.monitor", "app.store", "app.runtime"} <= graph["app.api"]
    assert not any("app.api" in targets for node, targets in graph.items() if node != "app.__main__")


def test_rate_limit_answers_429_with_retry_after(person):
    from starlette.testclient import TestClient

    from app.api.server import build_app
    from app.runtime import Runtime

    rt = Runtime(Settings(API_RATE_LIMIT_PER_MIN=2))
    _, token = person("viewer")
    try:
        with TestClient(build_app(rt)) as http:
            bearer = {"Authorization": f"Bearer {token}"}
            answers = [http.get("/api/v1/whoami", headers=bearer) for _ in range(5)]  # 2 a window: 5 span two
            codes = [a.status_code for a in answers]
            assert codes[0] == 200 and set(codes) == {200, 429} and codes.count(200) <= 4
            limited = next(a for a in answers if a.status_code == 429)
            assert 1 <= int(limited.headers["Retry-After"]) <= 61 and "requests this minute" in limited.json()["error"]
    finally:
        rt.close()


def test_basic_auth_checks_the_password_once_a_minute_until_it_changes(api_url, redis_client, person):
    name, _ = person("operator", "first pass word")
    sign_ins = lambda: len(audit.read(redis_client, audit.AuditFilter(who=name, action="sign_in"), 50))  # noqa: E731
    for _ in range(3):
        assert requests.get(api_url + "/api/v1/whoami", auth=(name, "first pass word"), timeout=10).status_code == 200
    assert sign_ins() == 1  # one argon2 check and one sign-in entry, then recognised
    accounts.set_role(redis_client, ADMIN, name, "viewer")
    demoted = requests.get(api_url + "/api/v1/whoami", auth=(name, "first pass word"), timeout=10)
    assert demoted.json()["role"] == "viewer"
    accounts.set_password(redis_client, ADMIN, name, "second pass word")
    assert requests.get(api_url + "/api/v1/whoami", auth=(name, "first pass word"), timeout=10).status_code == 401
    assert requests.get(api_url + "/api/v1/whoami", auth=(name, "second pass word"), timeout=10).status_code == 200
    accounts.remove(redis_client, ADMIN, name)
    assert requests.get(api_url + "/api/v1/whoami", auth=(name, "second pass word"), timeout=10).status_code == 401
