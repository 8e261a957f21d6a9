"""The fault guards, each against real parts (session Redis, aiosmtpd, the fake AI server, a real
valkey-server for beat): ETA guard, argument checks, size limits, the e-mail sending claim and its
dead-attempt rule, capped-redelivery messages, beat riding out a Redis outage, AI answer reuse."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.errors import EtaTooFar, FileTooLarge, InvalidInput, WorkerLostTooOften
from app.telemetry import deliveries
from app.schedules import eta_guard
from app.documents.archive_guard import over_limit_text
from app.mail import delivery
from app.mail.sentlog import SentLog
from app.mail.smtp import SmtpConfig
from app.store import mail as mail_store
from app.tasks.base import check_arguments
from tests.conftest import wait_for


# --- countdown / ETA guard -------------------------------------------------------------------------

def test_eta_guard_refuses_a_new_task_at_or_past_the_visibility_timeout():
    with pytest.raises(EtaTooFar, match=r"150 s is at or beyond the broker's visibility timeout \(60 s"):
        eta_guard.check(150, None, 60)
    with pytest.raises(EtaTooFar):
        eta_guard.check(60, None, 60)  # "at" counts: the message would be restored at that instant
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(EtaTooFar):
        eta_guard.check(None, (now + timedelta(seconds=61)).isoformat(), 60, now=now)
    assert eta_guard.check(59, None, 60) is None
    assert eta_guard.check(None, now + timedelta(seconds=30), 60, now=now) is None
    assert eta_guard.check(None, None, 60) is None


def test_eta_guard_caps_a_retry_below_the_visibility_timeout():
    assert eta_guard.check(600, None, 60, is_retry=True) == 60 - eta_guard.HEADROOM_S


def test_every_publish_path_goes_through_the_guard(celery_app):
    from app.tasks.email_tasks import send_email

    vt = celery_app.conf.broker_transport_options["visibility_timeout"]
    with pytest.raises(EtaTooFar):
        send_email.apply_async(kwargs=dict(to_email="a@example.com", subject="s", body="b"), countdown=vt)
    with pytest.raises(EtaTooFar):
        celery_app.send_task("app.tasks.email_tasks.send_email", countdown=vt + 1)
    with pytest.raises(EtaTooFar):
        send_email.apply_async(kwargs=dict(to_email="a@example.com", subject="s", body="b"),
                               eta=datetime.now(timezone.utc) + timedelta(seconds=vt + 60))


# --- arguments and limits --------------------------------------------------------------------------

def _sample(self, to_email, subject: str, count: int = 1, ratio: float = 1.0, flag: bool = False,
            items: list | None = None, extra: dict | None = None) -> None:
    """A task-shaped function to check arguments against."""


def test_argument_types_become_invalid_input_naming_the_parameter():
    check_arguments("x.send", _sample.__get__(object()), ("a@b.c", "hi"), {"count": 2, "ratio": 3, "items": None})
    cases = [
        ((), {"subject": "s"}, "missing a required argument: 'to_email'"),
        (("a", "s"), {"nope": 1}, "unexpected keyword argument 'nope'"),
        (("a", 5), {}, "subject must be text, got int"),
        (("a", "s"), {"count": True}, "count must be an integer, got bool"),
        (("a", "s"), {"ratio": "1.5"}, "ratio must be a number, got str"),
        (("a", "s"), {"items": "x"}, "items must be a list or null, got str"),
        (("a", "s"), {"extra": [1]}, "extra must be an object (dict) or null, got list"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
            check_arguments("x.send", _sample.__get__(object()), args, kwargs)
        assert str(err.value).startswith("send: ")


def test_subject_and_body_limits_are_checked_first(data_dir):
    limits = dict(data_dir=data_dir, max_recipients=10, max_attachment_bytes=1024, max_subject_chars=998,
                  max_body_bytes=1024 * 1024)
    with pytest.raises(InvalidInput, match="10,000,000 characters; the limit is 998"):
        delivery.check_single(to_email="a@example.com", subject="x" * 10_000_000, body="b", **limits)
    with pytest.raises(FileTooLarge, match="EMAIL_MAX_BODY_BYTES"):
        delivery.check_single(to_email="a@example.com", subject="s", body="é" * 600_000, **limits)
    with pytest.raises(InvalidInput, match="subject must be text"):
        delivery.check_bulk(recipients=["a@example.com"], subject=7, body="b", **limits)
    assert delivery.check_single(to_email="a@example.com", subject="s" * 998, body="b", **limits).subject


def test_zip_bomb_message_never_says_the_same_number_twice():
    mib = 1024 * 1024
    assert over_limit_text(1024 * mib + 1, 1024 * mib) == \
        "1,073,741,825 bytes; the limit is 1,073,741,824 bytes (1,024 MB)"
    assert over_limit_text(3000 * mib, 1024 * mib) == "3,000 MB; the limit is 1,024 MB"


def test_redelivery_cap_message():
    deliveries.check(3, 3)
    with pytest.raises(WorkerLostTooOften, match=r"^worker lost 3 times \(killed, out of memory, or crashed\)"):
        deliveries.check(4, 3)
    assert deliveries.lost_message(1) == "worker lost 1 time (killed, out of memory, or crashed)"


# --- the e-mail sending claim ---------------------------------------------------------------------

class _Stalling:
    """aiosmtpd handler that holds DATA for `stall_s` and records Message-IDs."""

    def __init__(self, stall_s: float):
        self.stall_s, self.ids, self.arrived = stall_s, [], threading.Event()

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        from email import message_from_bytes, policy

        self.ids.append(str(message_from_bytes(envelope.original_content, policy=policy.default)["Message-ID"]).strip())
        self.arrived.set()
        await asyncio.sleep(self.stall_s)
        return "250 OK"


@pytest.fixture()
def stalling_smtp():
    from aiosmtpd.controller import Controller

    from app.launcher.redis_server import free_port

    started = []

    def _start(stall_s: float):
        handler, port = _Stalling(stall_s), free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return handler, SmtpConfig(host="127.0.0.1", port=port, sender="console@example.com", timeout_s=10)

    yield _start
    for c in started:
        c.stop()


def _mail(data_dir):
    return delivery.check_single(to_email="a@example.com", subject="s", body="b", data_dir=data_dir,
                                 max_recipients=10, max_attachment_bytes=1024)


def test_two_concurrent_runs_of_one_task_send_once(redis_client, stalling_smtp, data_dir):
    handler, cfg = stalling_smtp(1.5)
    task_id = str(uuid.uuid4())
    results, errors = [], []

    def run():
        try:
            results.append(delivery.send_one(cfg, _mail(data_dir), SentLog(redis_client, task_id, lease_s=1)))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert sorted(r["status"] for r in results) == ["already_sent", "sent"]
    assert handler.ids == [f"<{task_id}@example.com>"]  # the lease was renewed while the send stalled


def test_a_claim_left_by_a_dead_attempt_expires_and_the_resend_keeps_the_message_id(redis_client, stalling_smtp,
                                                                                   data_dir):
    handler, cfg = stalling_smtp(0)
    task_id = str(uuid.uuid4())
    # what a pool process killed inside the SMTP transaction leaves: its claim (no renewer) and its mark
    assert mail_store.take_claim(redis_client, task_id, "*", "dead-process", 800)
    mail_store.mark_started(redis_client, task_id, "*")
    t0 = time.monotonic()
    out = delivery.send_one(cfg, _mail(data_dir), SentLog(redis_client, task_id, lease_s=5))
    assert time.monotonic() - t0 >= 0.5  # it waited for the dead claim to expire
    assert out["status"] == "sent" and out["possible_duplicate"] is True
    assert out["message_id"] == f"<{task_id}@example.com>" == handler.ids[0]
    again = delivery.send_one(cfg, _mail(data_dir), SentLog(redis_client, task_id, lease_s=5))
    assert again["status"] == "already_sent" and len(handler.ids) == 1


def test_bulk_message_ids_are_per_recipient_and_stable(redis_client, stalling_smtp, data_dir):
    handler, cfg = stalling_smtp(0)
    task_id = str(uuid.uuid4())
    bulk = delivery.check_bulk(recipients=["a@example.com", "b@example.com"], subject="Hi {{ email }}", body="b",
                               data_dir=data_dir, max_recipients=10, max_attachment_bytes=1024)
    out = delivery.send_bulk(cfg, bulk, SentLog(redis_client, task_id, lease_s=5))
    ids = [r["message_id"] for r in out["results"]]
    assert len(set(ids)) == 2 and all(i.startswith(f"<{task_id}.") for i in ids) and handler.ids == ids


# --- beat rides out a Redis outage ----------------------------------------------------------------

def test_beat_scheduler_retries_redis_errors_and_takes_its_lock_again(tmp_path):
    from celery import Celery

    from app.beat_scheduler import RETRY_S, RetryingRedBeatScheduler
    from app.launcher import redis_server

    port = redis_server.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    proc = redis_server.start(port, tmp_path / "r1", persist=False)
    app = Celery("beat-test", broker=url, backend=url, set_as_current=False)
    app.conf.update(redbeat_redis_url=url, redbeat_key_prefix="t11:", beat_max_loop_interval=1,
                    redbeat_redis_options={"socket_connect_timeout": 0.5, "socket_timeout": 0.5,
                                           "retry_period": 0})
    scheduler = RetryingRedBeatScheduler(app=app, lock_timeout=5)
    try:
        assert scheduler.lock is None  # as when beat started while Redis was away
        assert scheduler.tick() <= 1
        assert scheduler.lock is not None and scheduler.lock.owned()
        proc.kill()
        proc.wait(10)
        assert scheduler.tick() == RETRY_S  # no exception: beat keeps running
        assert scheduler.tick() == RETRY_S
        proc = redis_server.start(port, tmp_path / "r2", persist=False)  # empty: the lock is gone
        wait_for(lambda: scheduler.tick() <= 1 and scheduler.lock is not None and scheduler.lock.owned(), 15, 0.2)
    finally:
        proc.kill()
        proc.wait(10)


# --- AI: an answer is paid for once per task id -----------------------------------------------------

@pytest.mark.usefixtures("celery_worker")
def test_a_redelivered_ai_task_reuses_the_stored_answer(fake_ai, redis_client):
    from app.store import answers, history
    from app.tasks.ai_tasks import claude_completion

    task_id = str(uuid.uuid4())
    first = claude_completion.apply_async(args=["Say hi"], task_id=task_id)
    wait_for(first.ready, 60, 0.05)
    assert first.state == "SUCCESS" and fake_ai.count() == 1
    assert answers.get(redis_client, task_id)["content"] == first.result["content"]
    # the same task delivered again (as after a worker lost it before its result was saved)
    claude_completion.apply_async(args=["Say hi"], task_id=task_id)
    # The second delivery records WORKER_LOST before it runs; its own STARTED/SUCCESS are updates of the
    # same writer's steps (one record per step, see app/store/writer.py), so poll on the loss mark.
    wait_for(lambda: "WORKER_LOST" in [e["state"] for e in history.timeline(redis_client, task_id)], 60, 0.1)
    wait_for(lambda: history.get_task(redis_client, task_id).get("state") == "SUCCESS", 60, 0.1)
    assert fake_ai.count() == 1  # the provider was not called (nor paid) twice
    assert '"reused": true' in history.get_task(redis_client, task_id)["result"]


def test_diagnose_names_the_worker_that_started_in_place_of_a_lost_one():
    from app.monitor.diagnose import _successor
    from app.monitor.workers import WorkerInfo

    ws = [WorkerInfo("email.aa11@vm", online=False, last_heartbeat=1),
          WorkerInfo("email.bb22@vm", online=True, last_heartbeat=2),
          WorkerInfo("files.cc33@vm", online=True, last_heartbeat=2)]
    assert _successor("email.aa11@vm", ws) == "email.bb22@vm"
    assert _successor("files.cc33@vm", ws) is None


@pytest.mark.usefixtures("celery_worker")
def test_task_monitor_shows_lost_deliveries_on_the_timeline(celery_app, redis_client):
    from streamlit.testing.v1 import AppTest

    from app.store import history
    from tests.conftest import ROOT

    task_id = str(uuid.uuid4())
    for _ in range(2):  # the second delivery of one attempt = the worker holding the first was lost
        celery_app.send_task("app.tasks.maintenance_tasks.health_check", task_id=task_id)
    # The second delivery records WORKER_LOST before it runs; its own STARTED/SUCCESS are updates of the
    # same writer's steps (one record per step, see app/store/writer.py), so poll on the loss mark.
    wait_for(lambda: "WORKER_LOST" in [e["state"] for e in history.timeline(redis_client, task_id)], 60, 0.1)
    wait_for(lambda: history.get_task(redis_client, task_id).get("state") == "SUCCESS", 60, 0.1)
    assert history.get_task(redis_client, task_id)["lost_deliveries"] == "1"
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30)
    at.session_state["mon_selected_task"] = task_id
    at.run()
    assert not at.exception, at.exception
    assert any("Lost deliveries: 1" in w.value for w in at.warning)
    frames = [df.value for df in at.dataframe if "state" in df.value.columns and "info" in df.value.columns]
    assert frames and "WORKER_LOST" in set(frames[0]["state"])
    assert "worker lost 1 time (killed, out of memory, or crashed)" in set(frames[0]["info"])
