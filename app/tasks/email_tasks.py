"""Email tasks on email_queue: max 3 retries, 60 s countdown with exponential backoff and
jitter (`app.mail.backoff`; base EMAIL_RETRY_COUNTDOWN_S).

Connection errors, timeouts and 4xx replies retry; 5xx replies, bad addresses and other bad input
fail at once with a readable reason. Every task records who it delivered to (`SentLog`, keyed by
task id), so a retry or a redelivery never mails a recipient twice; the SMTP transaction runs
inside a sending claim and every attempt of one task uses the same Message-ID (see
`app.mail.sentlog` for the rule when an earlier attempt died mid-send). The SMTP password is read from
the settings in the worker: it is never a task argument or part of a result.

The ``queue_*`` / ``schedule_email`` functions check a request the same way the worker will and only
then queue it (returning the AsyncResult), so callers such as the Email page get errors at once.
"""
from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from celery import shared_task
from celery.exceptions import Ignore

from app import runtime
from app.errors import ServiceUnavailable
from app.files import filestore
from app.mail import backoff, delivery, scheduling, templates
from app.mail.sentlog import MemorySentLog, SentLog
from app.mail.smtp import SmtpConfig
from app.tasks.base import ConsoleTask
from config.settings import get_settings

EMAIL_TASK_OPTIONS = MappingProxyType(dict(base=ConsoleTask, bind=True, max_retries=3, default_retry_delay=60,
                                           soft_time_limit=600, time_limit=660))


def _limits() -> dict:
    s = get_settings()
    return dict(data_dir=s.DATA_DIR, max_recipients=s.EMAIL_MAX_RECIPIENTS,
                max_attachment_bytes=s.EMAIL_MAX_ATTACHMENT_MB * 1024 * 1024,
                max_subject_chars=s.EMAIL_MAX_SUBJECT_CHARS, max_body_bytes=s.EMAIL_MAX_BODY_BYTES)


def _redis():
    return runtime.get().redis


def _sent_log(task):
    if task.request.called_directly or not task.request.id:
        return MemorySentLog()
    return SentLog(_redis(), task.request.id, lease_s=get_settings().EMAIL_CLAIM_LEASE_S)


def _retry(task, exc: ServiceUnavailable):
    """Retry `task` after a backoff countdown; when retries are used up, fail with `exc`."""
    s = get_settings()
    countdown = backoff.countdown_s(task.request.retries, s.EMAIL_RETRY_COUNTDOWN_S, s.EMAIL_RETRY_BACKOFF_MAX_S)
    return task.retry(exc=exc, countdown=countdown)


def _local_attachments(files, attachments):
    """Attachments with storage URLs / keys downloaded into the task's workspace (filestore)."""
    return [files.local_attachment(a) for a in attachments] if attachments else attachments


def _send_single(task, **request) -> dict:
    with filestore.task_files(None) as files:
        try:
            request["attachments"] = _local_attachments(files, request.get("attachments"))
            mail = delivery.check_single(**request, **_limits())
            return delivery.send_one(SmtpConfig.from_settings(get_settings()), mail, _sent_log(task))
        except ServiceUnavailable as exc:
            raise _retry(task, exc) from None


@shared_task(**EMAIL_TASK_OPTIONS)
def send_email(self, to_email, subject: str, body: str, html_body: str | None = None,
               attachments: list | None = None, cc=None, bcc=None, reply_to: str | None = None) -> dict:
    """Send one message (text, optional HTML alternative, attachments by stored path).

    Args: `to_email`/`cc`/`bcc` an address, a list, or a comma-separated string; `attachments` stored
    files (paths under DATA_DIR, or storage URLs / keys with FILE_STORE=s3) or ``{'path', 'filename'}``.
    Returns ``{'status': 'sent' | 'already_sent', 'message_id', 'accepted', 'refused', 'size_bytes', 'smtp'}``.
    Raises InvalidInput / DeliveryRefused / NotConfigured at once; retries ServiceUnavailable.
    """
    return _send_single(self, to_email=to_email, subject=subject, body=body, html_body=html_body,
                        attachments=attachments, cc=cc, bcc=bcc, reply_to=reply_to)


@shared_task(**{**EMAIL_TASK_OPTIONS, "soft_time_limit": 3600, "time_limit": 3660})
def send_bulk_emails(self, recipients: list, subject: str, body: str, html_body: str | None = None,
                     attachments: list | None = None, batch_size: int | None = None) -> dict:
    """One message per recipient, rendered from Jinja2 templates with each row's context.

    Args: `recipients` addresses or ``{'email', 'context': {...}}``; `subject`/`body`/`html_body`
    templates (sandboxed; ``{{ email }}`` and the row's columns are defined); `batch_size` messages
    between progress reports (EMAIL_BATCH_SIZE).
    Returns `delivery.send_bulk`'s shape. Deferred (4xx) recipients are retried (the others are not
    sent again); after the last retry they stay 'deferred' in a 'partial' result.
    """
    s = get_settings()
    with filestore.task_files(None) as files:
        try:
            bulk = delivery.check_bulk(recipients=recipients, subject=subject, body=body, html_body=html_body,
                                       attachments=_local_attachments(files, attachments), **_limits())
            result = delivery.send_bulk(SmtpConfig.from_settings(s), bulk, _sent_log(self),
                                        batch_size=batch_size or s.EMAIL_BATCH_SIZE, on_progress=self.report_progress)
        except ServiceUnavailable as exc:
            raise _retry(self, exc) from None
    if result["deferred"] and self.request.retries < self.max_retries and not self.request.called_directly:
        raise _retry(self, ServiceUnavailable(f"{result['deferred']} recipient(s) deferred by the SMTP server."))
    return result


@shared_task(**EMAIL_TASK_OPTIONS)
def send_notification(self, user_email: str, notification_type: str, context: dict | None = None) -> dict:
    """Send a templated notification (`templates.NOTIFICATION_TYPES`: task_complete, task_failed,
    welcome, report_ready). Returns `send_email`'s shape plus ``notification_type``.
    Raises InvalidInput for an unknown type or a missing context key.
    """
    rendered = templates.render_notification(notification_type, context)
    result = _send_single(self, to_email=user_email, subject=rendered.subject, body=rendered.text,
                          html_body=rendered.html)
    return {**result, "notification_type": notification_type}


@shared_task(**EMAIL_TASK_OPTIONS)
def send_scheduled_email(self, to_email, subject: str, body: str, send_at: str, html_body: str | None = None,
                         attachments: list | None = None, cc=None, bcc=None, reply_to: str | None = None) -> dict:
    """`send_email` at `send_at` (ISO 8601; queue it with ``eta=send_at``, see `schedule_email`).

    Dropped when the operator cancelled it (`scheduling.cancel`; the task is also revoked). If it
    starts early (queued without an ETA), it re-queues itself for `send_at`.
    Returns `send_email`'s shape plus ``send_at``.
    """
    if not self.request.called_directly and scheduling.is_cancelled(_redis(), self.request.id):
        self.update_state(state="REVOKED", meta={"reason": "cancelled by the operator"})
        raise Ignore()
    when = scheduling.parse_send_at(send_at)
    if (when - datetime.now(when.tzinfo)).total_seconds() > 1 and not self.request.called_directly:
        scheduling.check_send_at(when, get_settings().VISIBILITY_TIMEOUT_S)
        raise self.retry(eta=when, max_retries=self.max_retries + 1)
    result = _send_single(self, to_email=to_email, subject=subject, body=body, html_body=html_body,
                          attachments=attachments, cc=cc, bcc=bcc, reply_to=reply_to)
    return {**result, "send_at": when.isoformat()}


def queue_email(send_options: dict | None = None, **kwargs):
    """Check `send_email`'s keyword arguments, then queue it with the ``apply_async`` options
    `send_options` (priority, countdown, eta). Raises InvalidInput / FileTooLarge."""
    delivery.check_single(**kwargs, **_limits())
    return send_email.apply_async(kwargs=kwargs, **(send_options or {}))


def queue_bulk(send_options: dict | None = None, **kwargs):
    """Check `send_bulk_emails`'s keyword arguments (every row rendered once), then queue it with
    the ``apply_async`` options `send_options`."""
    delivery.check_bulk(**{k: v for k, v in kwargs.items() if k != "batch_size"}, **_limits())
    return send_bulk_emails.apply_async(kwargs=kwargs, **(send_options or {}))


def queue_notification(user_email: str, notification_type: str, context: dict | None = None,
                       send_options: dict | None = None):
    """Check the address and render the notification once, then queue `send_notification` with the
    ``apply_async`` options `send_options`."""
    rendered = templates.render_notification(notification_type, context)
    delivery.check_single(to_email=user_email, subject=rendered.subject, body=rendered.text, **_limits())
    return send_notification.apply_async(kwargs=dict(user_email=user_email, notification_type=notification_type,
                                                     context=context or {}), **(send_options or {}))


def schedule_email(send_at: str | datetime, send_options: dict | None = None, **kwargs):
    """Check the message and the send time (below VISIBILITY_TIMEOUT_S ahead), then queue
    `send_scheduled_email` with that ETA (and the other ``apply_async`` options of `send_options`,
    e.g. priority; its countdown/eta are replaced by `send_at`). Raises InvalidInput with the reason."""
    when = scheduling.check_send_at(send_at, get_settings().VISIBILITY_TIMEOUT_S)
    delivery.check_single(**kwargs, **_limits())
    options = {k: v for k, v in (send_options or {}).items() if k not in ("countdown", "eta")}
    return send_scheduled_email.apply_async(kwargs={**kwargs, "send_at": when.isoformat()}, eta=when, **options)


def cancel_scheduled(task_id: str) -> None:
    """Cancel a scheduled send before it runs: set the cancel marker, then revoke the task."""
    scheduling.cancel(_redis(), task_id)
    send_scheduled_email.app.control.revoke(task_id)
