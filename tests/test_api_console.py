"""The console's own API routes (/api/v1/): history pages by cursor, task detail with timeline and
diagnosis, failure groups and their retry on the real worker, schedules, queue pause/resume/peek,
alerts, the audit log naming the token, and the OpenAPI document."""
from __future__ import annotations

import time
import uuid

import requests

from app.access import audit, identity
from app.monitor import actions
from app.store import queues_seen, writer
from tests.conftest import wait_for

HEALTH = "app.tasks.maintenance_tasks.health_check"


def _get(api_url, token, path, **params):
    r = requests.get(api_url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return r


def _post(api_url, token, path, **params):
    return requests.post(api_url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_history_pages_by_cursor_through_ties_and_jumps_to_a_time(api_url, redis_client, person):
    _, token = person("viewer")
    tag = f"app.tests.paging_{uuid.uuid4().hex[:8]}"
    base = time.time() - 3600
    # 130 tasks, three at each first-seen time (ties a cursor must not split wrongly); every 4th failed
    changes = [(f"{tag}-{i:03d}", "FAILURE" if i % 4 == 0 else "SENT", {}, base + i // 3, {"name": tag})
               for i in range(130)]
    writer.write_batch(redis_client, changes)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"name": tag, "limit": 50, **({"cursor": cursor} if cursor else {})}
        r = _get(api_url, token, "/api/v1/tasks", **params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [t["id"] for t in body["tasks"]]
        pages += 1
        cursor = body["next"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 130
    times = [base + int(tid[-3:]) // 3 for tid in seen]
    assert times == sorted(times, reverse=True)  # newest first across pages
    first = _get(api_url, token, "/api/v1/tasks", name=tag, limit=5).json()["tasks"][0]
    assert first["links"]["self"] == f"/api/v1/tasks/{first['id']}"

    failed = _get(api_url, token, "/api/v1/tasks", name=tag, state="FAILURE", limit=10).json()
    assert len(failed["tasks"]) == 10 and {t["state"] for t in failed["tasks"]} == {"FAILURE"}
    rest = _get(api_url, token, "/api/v1/tasks", name=tag, state="FAILURE", limit=50, cursor=failed["next"]).json()
    assert len(rest["tasks"]) == 33 - 10
    assert not {t["id"] for t in rest["tasks"]} & {t["id"] for t in failed["tasks"]}

    # jump to a time: the tasks first seen at or before it
    jumped = _get(api_url, token, "/api/v1/tasks", name=tag, until=str(base + 10), limit=50).json()
    assert [t["id"] for t in jumped["tasks"]] == [f"{tag}-{i:03d}" for i in range(32, -1, -1)]
    assert jumped["next"] is None


def test_task_detail_failure_groups_and_group_retry_on_the_worker(api_url, redis_client, person, celery_app,
                                                                  celery_worker):
    name, token = person("admin")
    marker = uuid.uuid4().hex[:8]
    first = celery_app.send_task(HEALTH, args=[marker, 1, 2])  # refused by the task in the worker: FAILURE
    first.get(timeout=60, propagate=False)
    from app import runtime

    runtime.get().writer.flush()
    detail = wait_for(lambda: (lambda r: r.json() if r.status_code == 200 and r.json()["task"]["state"] == "FAILURE"
                               else None)(_get(api_url, token, f"/api/v1/tasks/{first.id}")), timeout_s=30)
    assert [e["state"] for e in detail["timeline"]][-1] == "FAILURE"
    assert detail["diagnosis"]["task_id"] == first.id and detail["diagnosis"]["verdict"]
    assert {"code", "holds", "message"} == set(detail["diagnosis"]["findings"][0])
    assert "too many positional arguments" in detail["task"]["exception"]

    groups = _get(api_url, token, "/api/v1/failure-groups", limit=100).json()["groups"]
    group = next(g for g in groups if g["last_id"] == first.id)
    r = _post(api_url, token, f"/api/v1/failure-groups/{group['fingerprint']}/retry")
    assert r.status_code == 200 and r.json()["action"] == "retry_group", r.text
    new_ids = r.json()["done"]
    assert new_ids
    again = celery_app.AsyncResult(new_ids[-1])
    again.get(timeout=60, propagate=False)
    assert again.state == "FAILURE"  # same arguments, same error: it really ran on the worker again
    entry = audit.read(redis_client, audit.AuditFilter(action="retry_group", text=name), 1)[0]
    assert entry["who"].startswith(f"{name} (token ") and entry["auth"] == "token" and entry["outcome"] == "ok"

    retried = _post(api_url, token, f"/api/v1/tasks/{first.id}/retry")
    assert retried.status_code == 200 and retried.json()["new_id"]
    revoked = _post(api_url, token, f"/api/v1/tasks/{first.id}/revoke", terminate="true")
    assert revoked.status_code == 200 and revoked.json()["action"] == "terminate"


def test_schedules_list_run_now_enable_disable(api_url, redis_client, person, celery_app):
    from app import schedules

    _, token = person("admin")
    entry = f"api-test-{uuid.uuid4().hex[:6]}"
    schedules.save_entry(celery_app, entry, HEALTH, {"type": "interval", "every_s": 3600}, enabled=True)
    try:
        listed = _get(api_url, token, "/api/v1/schedules").json()["schedules"]
        mine = next(s for s in listed if s["name"] == entry)
        assert mine["task"] == HEALTH and mine["enabled"] is True
        ran = _post(api_url, token, f"/api/v1/schedules/{entry}/run")
        assert ran.status_code == 200 and ran.json()["task_id"]
        assert celery_app.AsyncResult(ran.json()["task_id"]).get(timeout=60, propagate=False) is not None
        off = _post(api_url, token, f"/api/v1/schedules/{entry}/disable")
        assert off.status_code == 200 and off.json()["schedule"]["enabled"] is False
        assert schedules.get_entry(celery_app, entry).enabled is False
        on = _post(api_url, token, f"/api/v1/schedules/{entry}/enable")
        assert on.status_code == 200 and on.json()["schedule"]["enabled"] is True
        acts = [e["action"] for e in audit.read(redis_client, audit.AuditFilter(text=entry), 10)]
        assert acts[:3] == ["schedule_enable", "schedule_disable", "schedule_run_now"]
    finally:
        schedules.delete_entry(celery_app, entry)


def test_queue_pause_resume_peek_and_the_audit_log(api_url, redis_client, person, celery_app):
    name, token = person("admin")
    queue = f"api_q_{uuid.uuid4().hex[:6]}"
    queues_seen.add(redis_client, [queue], time.time())
    sent = [celery_app.send_task(HEALTH, args=[i], queue=queue).id for i in range(3)]
    try:
        listed = _get(api_url, token, "/api/v1/queues").json()["queues"]
        mine = next(q for q in listed if q["name"] == queue)
        assert mine["ready"] == 3 and mine["paused"] is False
        peek = _get(api_url, token, f"/api/v1/queues/{queue}/peek", n=2).json()
        assert len(peek["messages"]) == 2 and {m["id"] for m in peek["messages"]} <= set(sent)
        assert _post(api_url, token, f"/api/v1/queues/{queue}/pause").status_code == 200
        assert next(q for q in _get(api_url, token, "/api/v1/queues").json()["queues"] if q["name"] == queue)["paused"]
        assert _post(api_url, token, f"/api/v1/queues/{queue}/resume").status_code == 200
        log = _get(api_url, token, "/api/v1/audit", text=queue, limit=10).json()["entries"]
        assert [e["action"] for e in log[:2]] == ["queue_resume", "queue_pause"]
        assert all(e["who"].startswith(f"{name} (token ") for e in log[:2])
    finally:
        actions.purge_queue(redis_client, redis_client, queue, identity.system("tests"), [queue])


def test_alerts_and_the_openapi_document(api_url, person):
    _, token = person("viewer")
    alerts = _get(api_url, token, "/api/v1/alerts")
    assert alerts.status_code == 200 and set(alerts.json()) == {"firing", "rules"}
    assert _get(api_url, token, "/api/v1/alerts/history", limit=5).status_code == 200
    doc = requests.get(api_url + "/api/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.") and {"bearer", "basic"} == set(doc["components"]["securitySchemes"])
    for path in ("/api/workers", "/api/tasks", "/api/task/info/{task_id}", "/api/v1/tasks", "/api/v1/tasks/{task_id}",
                 "/api/v1/failure-groups/{fingerprint}/retry", "/api/v1/queues/{queue}/peek", "/api/v1/audit"):
        assert path in doc["paths"], path
    assert doc["paths"]["/api/v1/tasks"]["get"]["summary"]
    listed = {p["name"] for p in doc["paths"]["/api/tasks"]["get"]["parameters"]}
    assert {"limit", "offset", "sort_by", "search"} <= listed
    assert "/api/v1/tasks" in requests.get(api_url + "/api/docs", timeout=10).text
