"""Run after (countdown) and Run at (ETA) from every submit page (AppTest), against real Redis, the
session's real worker, the dev mail sink and the AI stand-in: each task is held (its ETA recorded,
not started) and then runs no earlier than asked; the priority chosen reaches the broker and the
task detail."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from streamlit.testing.v1 import AppTest

from app.mail import sink
from app.store import history
from app.ui import timing
from tests.conftest import ROOT, wait_for
from tests.fixtures_smtp import free_port

pytestmark = pytest.mark.usefixtures("celery_worker")
CSV = b"day,shop,amount\n2024-03-01,A,10\n2024-03-02,B,12.5\n"
COUNTDOWN_S = 3
#: Time to fill and submit the four pages' Run-at forms before the chosen minute comes.
SUBMIT_MARGIN_S = 10


@pytest.fixture()
def dev_sink(mail_settings, data_dir):
    port = free_port()
    mail_settings(SMTP_HOST=None, SMTP_SINK_PORT=port)
    controller = sink.start(data_dir / "outbox", "127.0.0.1", port)
    yield
    controller.stop()


def _page(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def _when(at: AppTest, prefix: str, eta: datetime | None) -> None:
    """Choose Run after COUNTDOWN_S seconds, or Run at `eta` (UTC: the tests' TIMEZONE)."""
    if eta is None:
        at.radio(key=f"{prefix}_when").set_value(timing.AFTER)
        at.number_input(key=f"{prefix}_after").set_value(COUNTDOWN_S)
        at.selectbox(key=f"{prefix}_unit").set_value("seconds")
    else:
        at.radio(key=f"{prefix}_when").set_value(timing.AT)
        at.date_input(key=f"{prefix}_date").set_value(eta.date())
        at.time_input(key=f"{prefix}_time").set_value(eta.time())


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def _email(eta, corpus) -> list[str]:
    at = _page("email.py")
    if eta is None:
        at.text_input(key="single_to").input("ann@example.com")
        at.text_input(key="single_subject").input("Later, single")
        at.text_area(key="single_body").input("Body")
        at.select_slider(key="single_priority").set_value(0)
        _when(at, "single", None)
        _click(at, "Send")
    else:
        at.text_input(key="email_sched_to").input("ann@example.com")
        at.text_input(key="email_sched_subject").input("Later, scheduled")
        at.text_area(key="email_sched_body").input("Body")
        at.text_area(key="email_sched_html").input("<p>Body</p>")
        pdf = (corpus / "pdf" / "google-docs_text_image.pdf").read_bytes()
        at.file_uploader(key="email_sched_files").upload("brief.pdf", pdf, "application/pdf")
        _when(at, "email_sched", eta)
        _click(at, "Schedule")
    assert not at.error, [e.value for e in at.error]
    return [at.session_state["email_jobs"][0]["id"]]


def _files(eta, corpus) -> list[str]:
    at = _page("file_processing.py")
    path = corpus / "docx" / "google-docs_no_docprops.docx"
    at.file_uploader[0].upload(path.name, path.read_bytes(), "application/octet-stream")
    _when(at, "file", eta)
    _click(at, "Process")
    assert not at.error, [e.value for e in at.error]
    return [at.session_state["file_jobs"][0]["id"]]


def _ai(eta, fake_ai) -> list[str]:
    fake_ai.push(dict(text="Later."))
    at = _page("ai.py")
    at.tabs[0].text_area[0].input("Say later")
    _when(at, "ai_completion", eta)
    _click(at, "Complete")
    assert not at.error, [e.value for e in at.error]
    return [at.session_state["ai_jobs"]["completion"][0]["id"]]


def _reports(eta) -> list[str]:
    at = _page("reports.py")
    at.file_uploader(key="rep_upload").upload("sales.csv", CSV, "text/csv").run()
    _when(at, "rep_when", eta)
    _click(at, "Create")
    assert not at.error, [e.value for e in at.error]
    return [at.session_state["report_jobs"][0]["id"]]


def _next_minute(margin_s: float) -> datetime:
    now = datetime.now(timezone.utc)
    target = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    return target if (target - now).total_seconds() >= margin_s else target + timedelta(minutes=1)


def test_countdown_and_eta_from_every_page_are_held_then_run(dev_sink, fake_ai, corpus, redis_client, celery_app):
    sent: dict[str, tuple[str, float]] = {}  # task id -> (page, earliest start, epoch s)
    for page, submit in (("email", lambda e: _email(e, corpus)), ("files", lambda e: _files(e, corpus)),
                         ("ai", lambda e: _ai(e, fake_ai)), ("reports", _reports)):
        before = time.time()
        for task_id in submit(None):
            sent[task_id] = (f"{page} countdown", before + COUNTDOWN_S - 0.5)
    eta = _next_minute(SUBMIT_MARGIN_S)
    for page, submit in (("email", lambda e: _email(e, corpus)), ("files", lambda e: _files(e, corpus)),
                         ("ai", lambda e: _ai(e, fake_ai)), ("reports", _reports)):
        for task_id in submit(eta):
            sent[task_id] = (f"{page} eta", eta.timestamp())
    held = {tid: history.get_task(redis_client, tid) for tid, (what, _) in sent.items() if what.endswith("eta")}
    still_early = time.time() < eta.timestamp() - 0.5  # a slow machine may reach the minute first
    for tid, task in held.items():  # held: ETA recorded, not started (the start times below prove it too)
        assert task and datetime.fromisoformat(task["eta"]) == eta, (sent[tid], task)
        assert task["state"] in ("SENT", "RECEIVED") or not still_early, (sent[tid], task)
    done = wait_for(lambda: (ts := {tid: history.get_task(redis_client, tid) for tid in sent}) and all(
        t and t["state"] in ("SUCCESS", "FAILURE") for t in ts.values()) and ts, timeout_s=eta.timestamp() - time.time() + 45)
    for tid, task in done.items():
        what, earliest = sent[tid]
        assert task["state"] == "SUCCESS", (what, task.get("exception"))
        assert task["started_at"] >= earliest, (what, task["started_at"] - earliest)
    single = next(t for tid, t in done.items() if sent[tid][0] == "email countdown")
    assert int(single["priority"]) == 0 and "Priority high (0)" in timing.task_line(single, celery_app)
    scheduled_id = next(tid for tid in done if sent[tid][0] == "email eta")
    assert int(done[scheduled_id]["priority"]) == 5
    monitor = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30)
    monitor.session_state["mon_selected_task"] = scheduled_id
    monitor.run()
    assert not monitor.exception, monitor.exception
    line = f"runs at {eta:%Y-%m-%d %H:%M:%S} UTC"
    assert any("Priority normal (5) · broker value 5" in c.value and line in c.value for c in monitor.caption)


def test_page_refuses_a_countdown_beyond_the_visibility_timeout(celery_app):
    vt_h = celery_app.conf.broker_transport_options["visibility_timeout"] / 3600
    at = _page("file_processing.py")
    at.file_uploader[0].upload("a.docx", b"x", "application/octet-stream")
    at.radio(key="file_when").set_value(timing.AFTER)
    at.number_input(key="file_after").set_value(vt_h + 1)
    at.selectbox(key="file_unit").set_value("hours")
    _click(at, "Process")
    assert any("VISIBILITY_TIMEOUT_S" in e.value and "run twice" in e.value for e in at.error)
    assert at.session_state["file_jobs"] == []
