"""Secrets never reach a view: a task whose arguments, exception and traceback carry secrets is shown
on every view that shows task data (task detail, "Check a task by id", the Workers tab's active
tasks) with them masked. Real worker (thread), real Redis, Streamlit AppTest."""
from __future__ import annotations

import threading
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from app.store import history
from config.celery_config import celery_app
from app.telemetry.redaction import REDACTED, redact, redact_text
from tests.conftest import ROOT, wait_for

PAGE = str(ROOT / "pages" / "task_monitor.py")
PASSWORD = "hunter2-" + uuid.uuid4().hex[:8]
API_KEY = "sk-ant-api03-" + uuid.uuid4().hex
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
SECRETS = (PASSWORD, API_KEY, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "tok-" + PASSWORD)
_release = threading.Event()


@celery_app.task(name="tests.redaction.leaky_login", queue="default_queue")
def leaky_login(user, password, api_key, pem, github_token):
    """Fails quoting its secrets (registered at import, before the session's worker starts)."""
    raise ValueError(f"login failed for {user} with password={password!r} key {api_key} "
                     f"Authorization: Bearer {github_token} pem {pem}")


@celery_app.task(name="tests.redaction.slow_login", queue="default_queue")
def slow_login(note, api_key):
    """Waits, so the worker lists it among its active tasks."""
    _release.wait(60)


@pytest.fixture()
def leaky():
    return leaky_login, slow_login


def _shown(at: AppTest) -> str:
    """Every text the page shows: code, JSON, tables, messages, Markdown."""
    parts = [c.value for c in at.code] + [str(j.value) for j in at.json]
    parts += [df.value.to_string() for df in at.dataframe]
    for kind in (at.markdown, at.caption, at.error, at.info, at.warning, at.success, at.text):
        parts += [str(x.value) for x in kind]
    return "\n".join(parts)


def test_value_patterns_and_key_names():
    text = redact_text(f"password={PASSWORD}, {{'x-api-key': 'abc'}}, Bearer abcdefgh.ij, {API_KEY}, {PEM}, author=ann")
    assert not any(s in text for s in SECRETS) and "abc'" not in text and "author=ann" in text
    out = redact({"pwd": 1, "passphrase": 2, "private_key": 3, "credentials": 4, "access_key": 5, "api-key": 6,
                  "x-api-key": 7, "auth": 8, "bearer": 9, "refresh_token": 10, "author": "ann", "max_tokens": 9,
                  "note": f"key {API_KEY}"})
    assert [k for k, v in out.items() if v == REDACTED] == ["pwd", "passphrase", "private_key", "credentials",
                                                           "access_key", "api-key", "x-api-key", "auth", "bearer",
                                                           "refresh_token"]
    assert out["author"] == "ann" and out["max_tokens"] == 9 and API_KEY not in out["note"]


def test_task_detail_and_lookup_show_no_secret(leaky, celery_worker, redis_client):
    leaky_login, _ = leaky
    r = leaky_login.apply_async(kwargs={"user": "ann", "password": PASSWORD, "api_key": API_KEY, "pem": PEM,
                                        "github_token": "tok-" + PASSWORD})
    wait_for(lambda: (history.get_task(redis_client, r.id) or {}).get("state") == "FAILURE", timeout_s=60)
    stored = str(history.get_task(redis_client, r.id).get("exception")) + str(history.get_task(redis_client, r.id).get("traceback"))
    assert not any(s in stored for s in SECRETS)  # masked before it reached Redis
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["mon_selected_task"] = r.id
    at.run()
    assert not at.exception, at.exception
    at.text_input(key="lookup_id").input(r.id).run()
    assert not at.exception, at.exception
    shown = _shown(at)
    assert "login failed for ann" in shown and "Celery state: **FAILURE**" in shown  # the views did render
    assert not any(s in shown for s in SECRETS), [s for s in SECRETS if s in shown]


def test_workers_tab_active_tasks_show_no_secret(leaky, celery_worker, redis_client):
    _, slow_login = leaky
    _release.clear()
    r = slow_login.apply_async(args=[f"password={PASSWORD}", API_KEY])  # shown as the worker's argsrepr
    try:
        def active_seen():
            from app.monitor import workers

            return any(a.get("id") == r.id for w in workers.list_workers(redis_client) for a in w.active)
        wait_for(active_seen, timeout_s=30)
        at = AppTest.from_file(PAGE, default_timeout=60).run()
        assert not at.exception, at.exception
        shown = _shown(at)
        assert r.id in shown  # the active task is listed
        assert not any(s in shown for s in SECRETS), [s for s in SECRETS if s in shown]
    finally:
        _release.set()
