"""A foreign app's failure that carries secrets in its message, ingested from Celery events, is
stored with the recorder's redactor applied (exception, traceback, result) and shows *** on the
Issues page and in the task detail; its task and worker names are shown as text, not Markdown."""
from __future__ import annotations

import time
import uuid

from streamlit.testing.v1 import AppTest

from app.access import Identity, Role
from app.monitor import event_changes
from app.monitor.event_writer import BatchWriter
from app.monitor.events import Ingester
from app.store import history
from app.store.clients import redis_from_url
from app.ui.auth import SESSION_KEY
from tests.conftest import ROOT

SECRETS = ("hunter2-password", "sk-abcdefghijklmnopqrstuvwx", "eyJhbGciOiJIUzI1NiJ9.payload.sig")
MESSAGE = (f"ConnectionError: login failed password={SECRETS[0]} key {SECRETS[1]} "
           f"header Authorization: Bearer {SECRETS[2]}")


def test_one_redactor_masks_the_three_kinds_in_free_text():
    masked = event_changes.mask_repr(MESSAGE)
    assert not any(s in masked for s in SECRETS)
    assert masked.count("***") == 3


def _ingest(redis_client, redis_url, name: str, worker: str) -> str:
    sink = BatchWriter(lambda: redis_from_url(redis_url))
    ingester = Ingester(None, redis_client, sink.put, enable_events=False, inspect_workers=False)
    tid, t0 = str(uuid.uuid4()), time.time() + 600  # the newest failure group: the Issues page shows it first
    try:
        for dt, event in enumerate(({"type": "task-received", "name": name, "args": "()", "kwargs": "{}"},
                                    {"type": "task-started", "pid": 7},
                                    {"type": "task-failed", "exception": MESSAGE,
                                     "traceback": f"Traceback (most recent call last):\n  ...\n{MESSAGE}\n"})):
            ingester.on_event(dict(event, uuid=tid, timestamp=t0 + dt * 0.01, hostname=worker))
        assert sink.flush(timeout_s=30)
    finally:
        sink.close()
    return tid


def test_an_ingested_failure_is_stored_and_shown_redacted(redis_client, redis_url, celery_app):
    name, worker = f"foreign.**bold**.{uuid.uuid4().hex[:6]}", "w[x](http://evil)@h"
    tid = _ingest(redis_client, redis_url, name, worker)
    task = history.get_task(redis_client, tid)
    stored = " ".join(str(task.get(k) or "") for k in ("exception", "traceback", "result", "reason"))
    assert task["state"] == "FAILURE" and "***" in stored
    assert not any(s in stored for s in SECRETS), stored
    assert not any(s in str(e) for e in history.timeline(redis_client, tid) for s in SECRETS)
    at = AppTest.from_file(str(ROOT / "pages" / "issues.py"), default_timeout=60)
    at.session_state[SESSION_KEY] = Identity("ui-viewer", Role.VIEWER, "", "accounts", time.time())
    at.run()  # the group seen last is listed first and shown
    assert not at.exception, at.exception
    assert any(name.split(".")[-1] in s.value for s in at.subheader)
    shown = " ".join(str(e.value) for e in (*at.caption, *at.code, *at.subheader, *at.markdown))
    assert not any(s in shown for s in SECRETS)
    assert "***" in shown
    assert any("\\*\\*bold\\*\\*" in s.value for s in at.subheader)  # the name as typed, not Markdown
