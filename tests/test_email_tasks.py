"""The email tasks through a real worker against real aiosmtpd servers (tests/fixtures_smtp.py)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from app.store import history
from tests.conftest import wait_for
from tests.fixtures_smtp import SMTP_PASSWORD, SMTP_USER

pytestmark = pytest.mark.usefixtures("celery_worker")


def parse(data: bytes):
    """Parse as a mail client does: wire CRLF line ends read as newlines."""
    return BytesParser(policy=policy.default).parsebytes(data.replace(b"\r\n", b"\n"))


def run(sig, timeout_s=30, **kwargs):
    result = sig.apply_async(kwargs=kwargs)
    result.get(timeout=timeout_s, propagate=False)
    return result


@pytest.fixture()
def plain(smtp_server, mail_settings):
    server = smtp_server()
    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_TIMEOUT_S="5")
    return server


def test_text_html_attachments_arrive_intact(plain, corpus, stored):
    from app.tasks.email_tasks import send_email

    pdf = corpus / "pdf" / "google-docs_text_image.pdf"
    docx_path = corpus / "docx" / "google-docs_no_docprops.docx"
    docx_stored = stored(docx_path, "notes.docx")  # a bare stored path: attached under its stored name
    res = run(send_email, to_email="ann@example.com", subject="Quarterly report — Q3",
              body="Plain text body\nwith two lines.", html_body="<h1>Report</h1><p>Ünïcode ✓</p>",
              attachments=[{"path": stored(pdf), "filename": "report.pdf"}, docx_stored],
              cc="cc@example.com", bcc=["hidden@example.com"], reply_to="ops@example.com")
    assert res.state == "SUCCESS", res.traceback
    assert len(plain.handler.messages) == 1
    got = plain.handler.messages[0]
    assert sorted(got.rcpt_tos) == ["ann@example.com", "cc@example.com", "hidden@example.com"]
    msg = parse(got.data)
    assert msg["Subject"] == "Quarterly report — Q3"
    assert msg["To"] == "ann@example.com" and msg["Cc"] == "cc@example.com" and msg["Reply-To"] == "ops@example.com"
    assert "hidden@example.com" not in got.data.decode("ascii", "replace")  # Bcc is envelope-only
    assert msg.get_content_type() == "multipart/mixed"
    assert msg.get_body(("plain",)).get_content().rstrip("\n") == "Plain text body\nwith two lines."
    assert "<p>Ünïcode ✓</p>" in msg.get_body(("html",)).get_content()
    atts = {a.get_filename(): a for a in msg.iter_attachments()}
    assert atts["report.pdf"].get_content_type() == "application/pdf"
    assert atts["report.pdf"].get_payload(decode=True) == pdf.read_bytes()
    docx_part = atts[Path(docx_stored).name]
    assert docx_part.get_payload(decode=True) == docx_path.read_bytes()
    assert docx_part.get_content_type().endswith("wordprocessingml.document")
    out = res.result
    assert out["message_id"] == msg["Message-ID"]
    assert sorted(out["accepted"]) == sorted(got.rcpt_tos) and out["refused"] == {}
    assert abs(out["size_bytes"] - len(got.data)) <= 2


def test_bulk_of_50_arrives_as_50_separate_messages(plain, redis_client):
    from app.tasks.email_tasks import send_bulk_emails

    rows = [{"email": f"user{i}@example.com", "context": {"name": f"Person {i}"}} for i in range(50)]
    res = run(send_bulk_emails, recipients=rows, subject="Hello {{ name }}", body="Dear {{ name }}, your address is {{ email }}.",
              html_body="<p>Dear {{ name }}</p>", batch_size=10)
    assert res.state == "SUCCESS", res.traceback
    got = plain.handler.messages
    assert len(got) == 50
    assert sorted(m.rcpt_tos[0] for m in got) == sorted(r["email"] for r in rows)
    for m in got:
        assert len(m.rcpt_tos) == 1
        msg = parse(m.data)
        i = int(m.rcpt_tos[0][4:].split("@")[0])
        assert msg["To"] == m.rcpt_tos[0] and msg["Subject"] == f"Hello Person {i}"
        assert f"your address is user{i}@example.com" in msg.get_body(("plain",)).get_content()
    assert res.result["sent"] == 50 and res.result["status"] == "completed"
    assert [r["email"] for r in res.result["results"]] == [r["email"] for r in rows]
    entry = wait_for(lambda: (t := history.get_task(redis_client, res.id)) and t["state"] == "SUCCESS" and t)
    assert "batch 5/5" in str(entry.get("progress"))


def test_bulk_refused_recipient_does_not_stop_the_others(plain):
    from app.tasks.email_tasks import send_bulk_emails

    plain.handler.rcpt_replies["gone@example.com"] = ["550 5.1.1 No such user"] * 10
    emails = ["a@example.com", "gone@example.com", "b@example.com", "c@example.com"]
    res = run(send_bulk_emails, recipients=emails, subject="Hi", body="Body")
    assert res.state == "SUCCESS", res.traceback
    assert sorted(m.rcpt_tos[0] for m in plain.handler.messages) == ["a@example.com", "b@example.com", "c@example.com"]
    out = res.result
    assert out["status"] == "partial" and out["sent"] == 3 and out["refused"] == 1
    gone = next(r for r in out["results"] if r["email"] == "gone@example.com")
    assert gone["status"] == "refused" and "550" in gone["error"] and "No such user" in gone["error"]


def test_retried_bulk_never_sends_twice(plain, redis_client):
    from app.tasks.email_tasks import send_bulk_emails

    plain.handler.rcpt_replies["later@example.com"] = ["451 4.3.0 Mailbox busy, try later"]
    emails = ["a@example.com", "later@example.com", "b@example.com", "c@example.com"]
    res = run(send_bulk_emails, recipients=emails, subject="Hi", body="Body")
    assert res.state == "SUCCESS", res.traceback
    delivered = sorted(m.rcpt_tos[0] for m in plain.handler.messages)
    assert delivered == sorted(emails)  # each exactly once, across two runs
    out = res.result
    assert out["status"] == "completed" and out["sent"] == 1 and out["already_sent"] == 3
    entry = wait_for(lambda: (t := history.get_task(redis_client, res.id)) and t["state"] == "SUCCESS" and t)
    assert int(entry["retries"]) == 1


def test_451_then_accept_is_retried_and_delivered_once(plain, redis_client):
    from app.tasks.email_tasks import send_email

    plain.handler.data_replies = ["451 4.3.0 Temporary failure, try again"]
    res = run(send_email, to_email="ann@example.com", subject="Retry me", body="x")
    assert res.state == "SUCCESS", res.traceback
    assert plain.handler.data_attempts == 2 and len(plain.handler.messages) == 1
    entry = wait_for(lambda: (t := history.get_task(redis_client, res.id)) and t["state"] == "SUCCESS" and t)
    assert int(entry["retries"]) == 1


def test_550_fails_at_once_with_the_reason(plain, redis_client):
    from app.tasks.email_tasks import send_email

    plain.handler.data_replies = ["550 5.7.1 Message rejected as spam"] * 5
    res = run(send_email, to_email="ann@example.com", subject="Spam?", body="x")
    assert res.state == "FAILURE"
    assert type(res.result).__name__ == "DeliveryRefused"
    assert "550 5.7.1 Message rejected as spam" in str(res.result)
    assert plain.handler.data_attempts == 1 and plain.handler.messages == []
    entry = wait_for(lambda: (t := history.get_task(redis_client, res.id)) and t["state"] == "FAILURE" and t)
    assert int(entry.get("retries") or 0) == 0


def test_silent_server_is_bounded_by_the_timeout_then_fails(hung_port, mail_settings, redis_client):
    from app.tasks.email_tasks import send_email

    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=hung_port, SMTP_TIMEOUT_S="0.5")
    start = time.monotonic()
    res = run(send_email, timeout_s=30, to_email="ann@example.com", subject="Hello?", body="x")
    elapsed_s = time.monotonic() - start
    assert res.state == "FAILURE"
    assert "did not answer within 0.5 s" in str(res.result)
    # 4 attempts x 0.5 s timeout + backoff (0.1-0.2, 0.2-0.4, 0.4-0.8 s) plus worker overhead.
    assert 2.0 <= elapsed_s < 10.0
    entry = wait_for(lambda: (t := history.get_task(redis_client, res.id)) and t["state"] == "FAILURE" and t)
    assert int(entry["retries"]) == 3


def _all_redis_text(client) -> str:
    parts = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == "string":
            parts.append(str(client.get(key)))
        elif kind == "hash":
            parts.append(str(client.hgetall(key)))
        elif kind == "list":
            parts.append(str(client.lrange(key, 0, -1)))
    return "\n".join(parts)


def test_starttls_with_auth_delivers_and_never_stores_the_password(smtp_server, mail_settings, tls_cert, redis_client):
    from app.tasks.email_tasks import send_email

    server = smtp_server(starttls=True, auth=True)
    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_USE_TLS="true", SMTP_CA_FILE=str(tls_cert[0]),
                  SMTP_USERNAME=SMTP_USER, SMTP_PASSWORD=SMTP_PASSWORD, SMTP_TIMEOUT_S="5")
    res = run(send_email, to_email="ann@example.com", subject="Over TLS", body="secret-free body")
    assert res.state == "SUCCESS", res.traceback
    assert len(server.handler.messages) == 1
    assert "STARTTLS" in res.result["smtp"] and "auth" in res.result["smtp"]
    wait_for(lambda: (t := history.get_task(redis_client, res.id)) and t["state"] == "SUCCESS")
    assert SMTP_PASSWORD not in _all_redis_text(redis_client)


def test_wrong_password_fails_at_once(smtp_server, mail_settings, tls_cert, redis_client):
    from app.tasks.email_tasks import send_email

    server = smtp_server(starttls=True, auth=True)
    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_USE_TLS="true", SMTP_CA_FILE=str(tls_cert[0]),
                  SMTP_USERNAME=SMTP_USER, SMTP_PASSWORD="wrong-password-xyz", SMTP_TIMEOUT_S="5")
    res = run(send_email, to_email="ann@example.com", subject="Over TLS", body="x")
    assert res.state == "FAILURE"
    assert "login refused" in str(res.result) and "535" in str(res.result)
    assert "wrong-password-xyz" not in str(res.result) and server.handler.messages == []
    entry = wait_for(lambda: (t := history.get_task(redis_client, res.id)) and t["state"] == "FAILURE" and t)
    assert int(entry.get("retries") or 0) == 0 and "wrong-password-xyz" not in _all_redis_text(redis_client)


def test_untrusted_certificate_fails_at_once_with_a_hint(smtp_server, mail_settings):
    from app.tasks.email_tasks import send_email

    server = smtp_server(starttls=True)
    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_USE_TLS="true", SMTP_TIMEOUT_S="5")
    res = run(send_email, to_email="ann@example.com", subject="x", body="x")
    assert res.state == "FAILURE" and "SMTP_CA_FILE" in str(res.result)
    assert server.handler.messages == []


def test_smtps(smtp_server, mail_settings, tls_cert):
    from app.tasks.email_tasks import send_email

    server = smtp_server(smtps=True)
    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_USE_SSL="true", SMTP_CA_FILE=str(tls_cert[0]),
                  SMTP_TIMEOUT_S="5")
    res = run(send_email, to_email="ann@example.com", subject="Implicit TLS", body="x")
    assert res.state == "SUCCESS", res.traceback
    assert parse(server.handler.messages[0].data)["Subject"] == "Implicit TLS"


def test_notification_renders_escaped_html(plain):
    from app.tasks.email_tasks import send_notification

    res = run(send_notification, user_email="ann@example.com", notification_type="task_failed",
              context={"task_name": "process_pdf", "task_id": "abc-123", "error": "<script>alert(1)</script>"})
    assert res.state == "SUCCESS", res.traceback
    msg = parse(plain.handler.messages[0].data)
    assert msg["Subject"] == "Task process_pdf failed"
    html = msg.get_body(("html",)).get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "<script>alert(1)</script>" in msg.get_body(("plain",)).get_content()
    assert res.result["notification_type"] == "task_failed"


def test_unknown_notification_type_fails_at_once(plain):
    from app.tasks.email_tasks import send_notification

    res = run(send_notification, user_email="ann@example.com", notification_type="birthday", context={})
    assert res.state == "FAILURE" and "Unknown notification type 'birthday'" in str(res.result)
    assert plain.handler.messages == []


def test_scheduled_email_waits_for_its_eta(plain, redis_client):
    from app.tasks.email_tasks import schedule_email

    send_at = datetime.now(timezone.utc) + timedelta(seconds=2)
    res = schedule_email(send_at, to_email="ann@example.com", subject="Later", body="x")
    wait_for(lambda: (history.get_task(redis_client, res.id) or {}).get("state") == "RECEIVED", timeout_s=10)
    assert plain.handler.messages == [] and res.state == "PENDING"  # held by the worker until its ETA
    res.get(timeout=20, propagate=False)
    assert res.state == "SUCCESS", res.traceback
    assert len(plain.handler.messages) == 1
    assert datetime.now(timezone.utc) >= send_at
    assert res.result["send_at"] == send_at.isoformat()


def test_scheduled_email_cancelled_before_it_runs(plain, redis_client):
    from app.tasks.email_tasks import cancel_scheduled, schedule_email

    res = schedule_email(datetime.now(timezone.utc) + timedelta(seconds=2), to_email="ann@example.com",
                         subject="Never", body="x")
    wait_for(lambda: (history.get_task(redis_client, res.id) or {}).get("state") == "RECEIVED", timeout_s=10)
    cancel_scheduled(res.id)
    wait_for(lambda: res.state == "REVOKED", timeout_s=15)
    time.sleep(0.5)  # proves a non-event: nothing is sent after the revoke
    assert plain.handler.messages == []


def test_schedule_beyond_visibility_timeout_is_refused(plain):
    from app.errors import InvalidInput
    from app.tasks.email_tasks import schedule_email
    from config.settings import get_settings

    too_late = datetime.now(timezone.utc) + timedelta(seconds=get_settings().VISIBILITY_TIMEOUT_S + 60)
    with pytest.raises(InvalidInput, match="VISIBILITY_TIMEOUT_S"):
        schedule_email(too_late, to_email="ann@example.com", subject="x", body="x")
    with pytest.raises(InvalidInput, match="in the past"):
        schedule_email(datetime.now(timezone.utc) - timedelta(hours=1), to_email="ann@example.com", subject="x", body="x")


@pytest.mark.parametrize("kwargs, message", [
    (dict(to_email="not-an-address", subject="x", body="x"), "not a valid email address"),
    (dict(to_email="ann@example.com", subject="Hi\r\nBcc: victim@example.com", body="x"), "line breaks"),
    (dict(to_email="ann@example.com\r\nBcc: victim@example.com", subject="x", body="x"), "line breaks"),
    (dict(to_email="ann@example.com", subject="x", body="x", reply_to="a@b\nX: y"), "line breaks"),
    (dict(to_email=[f"u{i}@example.com" for i in range(6)], subject="x", body="x"), "EMAIL_MAX_RECIPIENTS"),
    (dict(to_email="ann@example.com", subject="", body="x"), "subject is empty"),
    (dict(to_email="ann@example.com", subject="x", body="x", attachments=["/etc/passwd"]), "outside the data directory"),
])
def test_bad_input_is_rejected_before_queueing_and_by_the_worker(plain, mail_settings, redis_client, kwargs, message):
    from app.errors import InvalidInput
    from app.tasks.email_tasks import queue_email, send_email

    mail_settings(EMAIL_MAX_RECIPIENTS="5")
    from app import runtime
    assert runtime.get().writer.flush()  # earlier tests' history writes trail by up to 50 ms
    before = len(history.list_tasks(redis_client, history.TaskFilter(name=send_email.name), limit=10_000))
    with pytest.raises(InvalidInput, match=message):
        queue_email(**kwargs)
    assert runtime.get().writer.flush()
    assert len(history.list_tasks(redis_client, history.TaskFilter(name=send_email.name), limit=10_000)) == before
    # A client that skips the check gets the same error from the worker, at once (no retry).
    res = run(send_email, **kwargs)
    assert res.state == "FAILURE" and message.split()[0] in str(res.result)
    assert plain.handler.messages == []


def test_attachment_over_the_cap_is_rejected(plain, mail_settings, stored, corpus):
    from app.errors import FileTooLarge
    from app.tasks.email_tasks import queue_email

    mail_settings(EMAIL_MAX_ATTACHMENT_MB="1")
    big = corpus / "pdf"
    path = max(big.iterdir(), key=lambda p: p.stat().st_size)
    assert path.stat().st_size > 1024 * 1024, "corpus needs a PDF over 1 MB"
    with pytest.raises(FileTooLarge, match="EMAIL_MAX_ATTACHMENT_MB"):
        queue_email(to_email="ann@example.com", subject="x", body="x", attachments=[stored(path)])


def test_bulk_bad_rows_rejected_before_queueing(plain):
    from app.errors import InvalidInput
    from app.tasks.email_tasks import queue_bulk

    with pytest.raises(InvalidInput, match="row 2"):
        queue_bulk(recipients=["a@example.com", "bad@", "c@example.com"], subject="x", body="x")
    with pytest.raises(InvalidInput, match="'name' is undefined"):
        queue_bulk(recipients=[{"email": "a@example.com", "context": {"name": "A"}}, "b@example.com"],
                   subject="Hi {{ name }}", body="x")
    with pytest.raises(InvalidInput, match="Template error"):
        queue_bulk(recipients=["a@example.com"], subject="Hi {{ name", body="x")
