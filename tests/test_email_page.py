"""AppTest for the Email page against real Redis, a real worker and the real dev mail sink."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from app.store import history
from app.mail import outbox, scheduling, sink
from tests.conftest import ROOT, wait_for
from tests.fixtures_smtp import free_port

pytestmark = pytest.mark.usefixtures("celery_worker")
PAGE = str(ROOT / "pages" / "email.py")


@pytest.fixture()
def dev_sink(mail_settings, data_dir):
    """The dev sink on a free port, as `make run` starts it when SMTP_HOST is unset."""
    port = free_port()
    mail_settings(SMTP_HOST=None, SMTP_SINK_PORT=port)
    controller = sink.start(data_dir / "outbox", "127.0.0.1", port)
    yield data_dir / "outbox"
    controller.stop()


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def finished(redis_client, task_id: str, state: str = "SUCCESS"):
    return wait_for(lambda: (t := history.get_task(redis_client, task_id)) and t["state"] == state and t)


def test_page_renders_with_the_sink_caption(dev_sink):
    at = page()
    assert [t.label for t in at.tabs] == ["Single", "Bulk", "Notification", "Scheduled", "Outbox"]
    assert "dev mail sink" in at.caption[0].value


def test_single_send_with_attachment_lands_in_the_outbox(dev_sink, redis_client, corpus):
    at = page()
    at.text_input(key="single_to").input("ann@example.com")
    at.text_input(key="single_subject").input("Page test single")
    at.text_area(key="single_body").input("Hello from the page")
    at.text_area(key="single_html").input("<p>Hi <script>alert(1)</script></p>")
    pdf = (corpus / "pdf" / "google-docs_text_image.pdf").read_bytes()
    at.file_uploader(key="email_single_files").upload("brief.pdf", pdf, "application/pdf")
    click(at, "Send")
    jobs = at.session_state["email_jobs"]
    assert len(jobs) == 1 and jobs[0]["kind"] == "email"
    finished(redis_client, jobs[0]["id"])
    at.run()
    assert not at.exception
    assert any("sent" in md.value and "Message-ID" in md.value for md in at.markdown)
    # The Outbox lists it; opening it shows the text, the HTML as escaped source, the attachment.
    entry = next(e for e in outbox.list_messages(dev_sink) if e.subject == "Page test single")
    frame = next(df.value for df in at.dataframe if "subject" in df.value.columns)
    assert "Page test single" in list(frame["subject"])
    at.selectbox(key="outbox_open").set_value(entry.name).run()
    assert not at.exception
    assert at.text_area(key=f"outbox_text:{entry.name}").value.strip() == "Hello from the page"
    assert any("<script>alert(1)</script>" in c.value for c in at.code)
    assert any("brief.pdf" in b.label for b in at.get("download_button"))
    assert outbox.read_message(dev_sink, entry.name).attachments[0].data == pdf


@pytest.mark.parametrize("field, value, message", [
    ("single_to", "not-an-address", "not a valid email address"),
    ("single_subject", "Hi\r\nBcc: victim@example.com", "line breaks"),
])
def test_single_bad_input_shows_error_and_queues_nothing(dev_sink, field, value, message):
    at = page()
    at.text_input(key="single_to").input("ann@example.com")
    at.text_input(key="single_subject").input("Subject")
    at.text_area(key="single_body").input("Body")
    at.text_input(key=field).input(value)
    click(at, "Send")
    assert any(message in e.value for e in at.error)
    assert at.session_state["email_jobs"] == []
    assert at.text_input(key=field).value == value  # nothing the operator typed is lost


def test_bulk_csv_sends_one_message_per_row(dev_sink, redis_client):
    at = page()
    at.text_area(key="bulk_recipients").input("email,name\nrow1@example.com,Row One\nrow2@example.com,Row Two\n"
                                              "row3@example.com,Row Three\n")
    at.text_input(key="bulk_subject").input("Bulk page {{ name }}")
    click(at, "Send bulk")
    jobs = at.session_state["email_jobs"]
    assert len(jobs) == 1 and jobs[0]["title"] == "Bulk to 3 recipient(s)"
    finished(redis_client, jobs[0]["id"])
    at.run()
    assert not at.exception
    assert any(m.label == "sent" and m.value == "3" for m in at.metric)
    subjects = {e.subject: e.rcpt_tos for e in outbox.list_messages(dev_sink)}
    assert subjects["Bulk page Row Two"] == ["row2@example.com"]


def test_bulk_csv_without_email_column_is_refused(dev_sink):
    at = page()
    at.text_area(key="bulk_recipients").input("address,name\nrow1@example.com,Row One\n")
    click(at, "Send bulk")
    assert any("no 'email' column" in e.value for e in at.error)
    assert at.session_state["email_jobs"] == []


def test_notification_form(dev_sink, redis_client):
    at = page()
    at.text_input(key="notify_to").input("ann@example.com")
    at.selectbox(key="notify_type").set_value("welcome")
    at.text_area(key="notify_context").input('{"name": "Page Ann"}')
    click(at, "Send notification")
    task_id = at.session_state["email_jobs"][0]["id"]
    finished(redis_client, task_id)
    assert any(e.subject == "Welcome, Page Ann" for e in outbox.list_messages(dev_sink))
    from app.access import audit

    entry = next(e for e in audit.recent(redis_client, 20) if e["action"] == "submit"
                 and e["target"] == "app.tasks.email_tasks.send_notification")
    assert entry["detail"] == {"result": task_id}  # the audit names the task it queued


def test_notification_with_bad_context_is_refused(dev_sink):
    at = page()
    at.text_input(key="notify_to").input("ann@example.com")
    at.text_area(key="notify_context").input("not json")
    click(at, "Send notification")
    assert any("JSON object" in e.value for e in at.error)
    at = page()
    at.text_input(key="notify_to").input("ann@example.com")
    at.selectbox(key="notify_type").set_value("task_failed")
    at.text_area(key="notify_context").input('{"task_name": "x"}')
    click(at, "Send notification")
    assert any("'task_id' is undefined" in e.value and "error" in e.value for e in at.error)
    assert at.session_state["email_jobs"] == []


def test_scheduled_beyond_visibility_timeout_is_refused(dev_sink):
    at = page()
    at.text_input(key="email_sched_to").input("ann@example.com")
    at.text_input(key="email_sched_subject").input("Later")
    at.text_area(key="email_sched_body").input("Body")
    at.date_input(key="email_sched_date").set_value(date.today() + timedelta(days=3))
    click(at, "Schedule")
    assert any("VISIBILITY_TIMEOUT_S" in e.value for e in at.error)
    assert at.session_state["email_jobs"] == []


def test_scheduled_send_is_shown_and_can_be_cancelled(dev_sink, redis_client):
    at = page()
    at.text_input(key="email_sched_to").input("ann@example.com")
    at.text_input(key="email_sched_subject").input("Cancel me")
    at.text_area(key="email_sched_body").input("Body")
    click(at, "Schedule")
    job = at.session_state["email_jobs"][0]
    assert job["kind"] == "scheduled" and job["send_at"]
    assert any("Scheduled for" in i.value for i in at.info)
    click(at, "Cancel")
    assert any("Cancelled" in i.value for i in at.info)
    assert scheduling.is_cancelled(redis_client, job["id"])
