"""The Email page's four forms: single, bulk, notification, scheduled. Each checks its input with the
same functions the worker uses (`app.tasks.email_tasks.queue_*`) and records the queued task in
``st.session_state.email_jobs`` (newest first). Errors are shown with `st.error`; inputs are kept.
"""
from __future__ import annotations

from types import MappingProxyType
import json

import streamlit as st

from app.errors import ConsoleError, InvalidInput
from app.mail import addresses, templates
from app.mail.smtp import SmtpConfig
from app.ui import timing
from app.ui.resources import celery, settings
from app.ui.uploads import store_upload

JOBS = "email_jobs"


def transport_caption() -> str:
    """Where mail goes, e.g. 'smtp.example.com:587 (STARTTLS, auth)' or the dev sink."""
    cfg = SmtpConfig.from_settings(settings())
    where = ("the dev mail sink " + cfg.describe() + " — messages land in the Outbox tab"
             if cfg.is_sink else cfg.describe())
    return f"Mail is sent on **email_queue** to {where}. From: `{cfg.sender}`."


def _tasks():
    celery()
    from app.tasks import email_tasks

    return email_tasks


def _add_job(task_id: str, title: str, kind: str, **extra) -> None:
    st.session_state[JOBS].insert(0, {"id": task_id, "title": title, "kind": kind, **extra})
    st.success(f"Queued {kind}: task `{task_id}`")


#: form kind -> the task it queues (the audit target).
TASK_OF_KIND = MappingProxyType({"email": "send_email", "bulk": "send_bulk_emails", "notification": "send_notification",
                "scheduled": "send_scheduled_email"})


def _submit(kind: str, title: str, queue, **extra) -> None:
    """Run `queue()` (a service call that sends the task) as the signed-in identity, checked and
    audited; the audit entry's detail holds the new task's id (``result``)."""
    from app.ui import access

    try:
        task_id = access.run("submit", f"app.tasks.email_tasks.{TASK_OF_KIND[kind]}", lambda: queue().id)
    except ConsoleError as exc:
        st.error(str(exc))
        return
    _add_job(task_id, title, kind, **extra)


def _options(choice: timing.Choice) -> dict | None:
    """The ``apply_async`` options of the form's priority and timing, or None after showing why not."""
    try:
        return choice.options(celery())
    except InvalidInput as exc:
        st.error(str(exc))
        return None


def _attachments(files) -> list[dict]:
    return [{"path": str(s.path), "filename": s.original_name} for s in (store_upload(f) for f in files or [])]


def single_form() -> None:
    with st.form("email_single"):
        to = st.text_input("To", placeholder="ann@example.com, bob@example.com", key="single_to")
        c1, c2, c3 = st.columns(3)
        cc, bcc = c1.text_input("Cc", key="single_cc"), c2.text_input("Bcc", key="single_bcc")
        reply_to = c3.text_input("Reply-To", key="single_reply_to")
        subject = st.text_input("Subject", key="single_subject")
        body = st.text_area("Text body", key="single_body")
        html_body = st.text_area("HTML body (optional)", key="single_html")
        files = st.file_uploader("Attachments", accept_multiple_files=True, key="email_single_files")
        when = timing.inputs("single", celery(), settings=settings())
        submitted = st.form_submit_button("Send", type="primary")
    if submitted:
        if (options := _options(when)) is None:
            return
        tasks = _tasks()
        try:
            atts = _attachments(files)
        except InvalidInput as exc:
            st.error(str(exc))
            return
        _submit("email", f"Email to {to}", lambda: tasks.queue_email(
            to_email=to, subject=subject, body=body, html_body=html_body or None, attachments=atts or None,
            cc=cc or None, bcc=bcc or None, reply_to=reply_to or None, send_options=options))


def bulk_form() -> None:
    s = settings()
    st.caption(f"One message per recipient (nobody sees the others), up to {s.EMAIL_MAX_RECIPIENTS} "
               f"(EMAIL_MAX_RECIPIENTS). Subject and bodies are Jinja2 templates: `{{{{ email }}}}` and every CSV "
               f"column (e.g. `{{{{ name }}}}`) are defined per row.")
    with st.form("email_bulk"):
        pasted = st.text_area("Recipients (one per line, or CSV with a header row holding an `email` column)",
                              placeholder="email,name\nann@example.com,Ann", key="bulk_recipients")
        csv_file = st.file_uploader("…or upload a CSV", type=["csv", "txt"], key="email_bulk_csv")
        subject = st.text_input("Subject template", value="Hello {{ name }}", key="bulk_subject")
        body = st.text_area("Text body template", value="Dear {{ name }},\n\n", key="bulk_body")
        html_body = st.text_area("HTML body template (optional, autoescaped)", key="bulk_html")
        files = st.file_uploader("Attachments (sent to every recipient)", accept_multiple_files=True,
                                 key="email_bulk_files")
        when = timing.inputs("bulk", celery(), settings=settings())
        submitted = st.form_submit_button("Send bulk", type="primary")
    if submitted:
        if (options := _options(when)) is None:
            return
        try:
            text = csv_file.getvalue().decode("utf-8-sig") if csv_file is not None else pasted
            rows = addresses.parse_recipient_rows(text)
            atts = _attachments(files)
        except UnicodeDecodeError:
            st.error("The CSV is not UTF-8 text: save it as CSV UTF-8 and upload it again.")
            return
        except InvalidInput as exc:
            st.error(str(exc))
            return
        tasks = _tasks()
        _submit("bulk", f"Bulk to {len(rows)} recipient(s)", lambda: tasks.queue_bulk(
            recipients=rows, subject=subject, body=body, html_body=html_body or None, attachments=atts or None,
            send_options=options))


def notification_form() -> None:
    keys = {t: templates.context_keys(t) for t in templates.NOTIFICATION_TYPES}
    st.caption("Context keys: " + "; ".join(
        f"**{t}**: {', '.join(req)}" + (f" (optional: {', '.join(opt)})" if opt else "") for t, (req, opt) in keys.items()))
    with st.form("email_notification"):
        to = st.text_input("User email", key="notify_to")
        kind = st.selectbox("Notification type", templates.NOTIFICATION_TYPES, key="notify_type")
        context_text = st.text_area("Context (JSON object)", value='{"name": "Ann"}', key="notify_context")
        when = timing.inputs("notify", celery(), settings=settings())
        submitted = st.form_submit_button("Send notification", type="primary")
    if submitted:
        if (options := _options(when)) is None:
            return
        try:
            context = json.loads(context_text or "{}")
            if not isinstance(context, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            st.error(f"The context must be a JSON object such as {{\"name\": \"Ann\"}} ({exc}).")
            return
        tasks = _tasks()
        _submit("notification", f"{kind} to {to}", lambda: tasks.queue_notification(to, kind, context,
                                                                                   send_options=options))


def scheduled_form() -> None:
    """A send at a chosen time (Run after / Run at), cancellable until it goes (Outbox tab)."""
    st.caption("A scheduled send can be cancelled until it goes; the other tabs can delay a message too.")
    with st.form("email_scheduled"):
        to = st.text_input("To", key="email_sched_to")
        subject = st.text_input("Subject", key="email_sched_subject")
        body = st.text_area("Text body", key="email_sched_body")
        html_body = st.text_area("HTML body (optional)", key="email_sched_html")
        files = st.file_uploader("Attachments", accept_multiple_files=True, key="email_sched_files")
        when = timing.inputs("email_sched", celery(), settings=settings(), default_mode=timing.AT)
        submitted = st.form_submit_button("Schedule", type="primary")
    if submitted:
        if (options := _options(when)) is None:
            return
        send_at = when.run_at()
        if send_at is None:
            st.error("A scheduled send needs Run after or Run at (use the Single tab to send now).")
            return
        try:
            atts = _attachments(files)
        except InvalidInput as exc:
            st.error(str(exc))
            return
        tasks = _tasks()
        _submit("scheduled", f"Scheduled email to {to}", lambda: tasks.schedule_email(
            send_at, to_email=to, subject=subject, body=body, html_body=html_body or None,
            attachments=atts or None, send_options=options), send_at=send_at.timestamp())
