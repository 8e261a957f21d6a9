"""The mail operations the tasks call: check a request, send one message, send a bulk run.

Checks (`check_single`, `check_bulk`) run twice: in the console before anything is queued, so the
operator sees the error at once, and again in the worker, because a task can be queued by any
client. Sending functions take the SMTP config and a sent-log as parameters (no settings, Redis or
Celery imports here), so tests and callers choose both.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.errors import DeliveryDeferred, DeliveryRefused, FileTooLarge, InvalidInput
from app.mail import addresses, message, smtp, templates
from app.mail.message import Attachment
from app.mail.templates import BulkTemplates

#: Text part used when only an HTML body is given (every message keeps a plain-text alternative).
HTML_ONLY_TEXT = "This message has an HTML version; open it in a mail client that shows HTML."

ProgressFn = Callable[..., None]


@dataclass(frozen=True)
class Single:
    """A checked single send: normalized addresses, one-line subject, resolved attachments."""

    to: list[str]
    subject: str
    body: str
    html_body: str | None
    cc: list[str]
    bcc: list[str]
    reply_to: str | None
    attachments: list[Attachment]

    @property
    def recipients(self) -> list[str]:
        """Envelope recipients: To + Cc + Bcc, each once, in that order."""
        return list(dict.fromkeys([*self.to, *self.cc, *self.bcc]))


def check_sizes(subject, body, html_body, max_subject_chars: int | None, max_body_bytes: int | None) -> None:
    """Subject and body limits (EMAIL_MAX_SUBJECT_CHARS, EMAIL_MAX_BODY_BYTES), checked before any
    other work so a 10 MB subject costs nothing.

    Raises:
        InvalidInput: a subject or body that is not text, a subject over `max_subject_chars`.
        FileTooLarge: text and HTML bodies together over `max_body_bytes`.
    """
    for name, value in (("subject", subject), ("body", body), ("html_body", html_body)):
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"The {name} must be text, got {type(value).__name__}.")
    if max_subject_chars and subject and len(subject) > max_subject_chars:
        raise InvalidInput(f"The subject has {len(subject):,} characters; the limit is {max_subject_chars:,} "
                           "(EMAIL_MAX_SUBJECT_CHARS).")
    size = len((body or "").encode("utf-8", "surrogatepass")) + len((html_body or "").encode("utf-8", "surrogatepass"))
    if max_body_bytes and size > max_body_bytes:
        raise FileTooLarge(f"The message body is {size / 1024 / 1024:,.1f} MB; the limit is "
                           f"{max_body_bytes / 1024 / 1024:,.1f} MB (EMAIL_MAX_BODY_BYTES).")


def check_single(*, to_email, subject: str, body: str | None, html_body: str | None = None,
                 attachments=None, cc=None, bcc=None, reply_to: str | None = None, data_dir: Path,
                 max_recipients: int, max_attachment_bytes: int, max_subject_chars: int | None = None,
                 max_body_bytes: int | None = None) -> Single:
    """Validate one send request (the arguments of `send_email`).

    Raises:
        InvalidInput: a bad address, a line break in a header, no recipient or too many, no subject
            or body, an attachment outside DATA_DIR or missing.
        FileTooLarge: attachments over `max_attachment_bytes`, bodies over `max_body_bytes`.
    """
    check_sizes(subject, body, html_body, max_subject_chars, max_body_bytes)
    to = addresses.check_addresses(to_email, "To")
    cc_list = addresses.check_addresses(cc, "Cc")
    bcc_list = addresses.check_addresses(bcc, "Bcc")
    if not to:
        raise InvalidInput("To is empty: give at least one recipient.")
    addresses.check_count(len(set(to + cc_list + bcc_list)), max_recipients)
    reply = addresses.check_address(reply_to, "Reply-To") if reply_to else None
    subject = addresses.check_header("Subject", subject).strip()
    if not subject:
        raise InvalidInput("The subject is empty.")
    if not (body or "").strip() and not (html_body or "").strip():
        raise InvalidInput("The message is empty: write a body (text or HTML).")
    atts = message.resolve_attachments(data_dir, attachments, max_attachment_bytes)
    return Single(to, subject, body or HTML_ONLY_TEXT, html_body or None, cc_list, bcc_list, reply, atts)


def send_one(cfg: smtp.SmtpConfig, mail: Single, sent_log) -> dict:
    """Send one checked message over a fresh connection.

    Returns ``{'status': 'sent', 'message_id', 'accepted': [addresses], 'refused': {address: reason},
    'size_bytes', 'smtp': 'host:port (mode)', 'possible_duplicate'?: True}``; when `sent_log` shows it
    was already delivered (a retry after the server accepted it), nothing is sent and ``status`` is
    ``'already_sent'``. The SMTP transaction runs inside the task's sending claim
    (`SentLog.sending`); ``possible_duplicate`` is set when an earlier attempt died inside it (same
    Message-ID, so receivers can de-duplicate).

    Raises:
        ServiceUnavailable / DeliveryDeferred: retryable (network, timeout, 4xx).
        DeliveryRefused / NotConfigured: final (5xx, login refused, TLS trust).
    """
    done = sent_log.sent()
    if done:
        return _already(done, cfg)
    message_id = message.message_id_for(sent_log.task_id, cfg.sender) if sent_log.task_id else None
    with sent_log.sending() as claim:
        if claim.already_sent:
            return _already(sent_log.sent(), cfg)
        msg = message.build_message(sender=cfg.sender, to=mail.to, subject=mail.subject, text=mail.body,
                                    html=mail.html_body, attachments=mail.attachments, cc=mail.cc,
                                    reply_to=mail.reply_to, message_id=message_id)
        data = message.to_bytes(msg)
        with smtp.connect(cfg) as conn:
            refused = smtp.send_bytes(conn, cfg, cfg.sender, mail.recipients, data)
        accepted = [r for r in mail.recipients if r not in refused]
        for address in accepted:
            sent_log.mark(address, msg["Message-ID"])
    out = {"status": "sent", "message_id": msg["Message-ID"], "accepted": accepted, "refused": refused,
           "size_bytes": len(data), "smtp": cfg.describe()}
    if claim.resumed:
        out["possible_duplicate"] = True
    return out


def _already(done: dict[str, str], cfg: smtp.SmtpConfig) -> dict:
    return {"status": "already_sent", "message_id": next(iter(done.values())), "accepted": sorted(done),
            "refused": {}, "size_bytes": None, "smtp": cfg.describe()}


@dataclass(frozen=True)
class Bulk:
    """A checked bulk run: rows ``{'email', 'context'}`` and compiled templates."""

    rows: list[dict]
    templates: BulkTemplates
    attachments: list[Attachment]


def check_bulk(*, recipients, subject: str, body: str, html_body: str | None = None, attachments=None,
               data_dir: Path, max_recipients: int, max_attachment_bytes: int, max_subject_chars: int | None = None,
               max_body_bytes: int | None = None) -> Bulk:
    """Validate a bulk request and render every row once, so a missing column fails before queueing.

    Raises:
        InvalidInput: a bad address (with its row), too many rows, a template syntax error, a
            template variable missing from a row, an attachment problem.
        FileTooLarge: attachments over `max_attachment_bytes`.
    """
    check_sizes(subject, body, html_body, max_subject_chars, max_body_bytes)
    rows = addresses.check_recipient_rows(recipients or [], max_recipients)
    if not (subject or "").strip():
        raise InvalidInput("The subject is empty.")
    if not (body or "").strip() and not (html_body or "").strip():
        raise InvalidInput("The message is empty: write a body (text or HTML).")
    compiled = templates.compile_bulk(subject, body or HTML_ONLY_TEXT, html_body or None)
    for row in rows:
        compiled.render(row_context(row))
    atts = message.resolve_attachments(data_dir, attachments, max_attachment_bytes)
    return Bulk(rows, compiled, atts)


def row_context(row: dict) -> dict:
    """Template context of one bulk row: its columns plus ``email``."""
    return {**row.get("context", {}), "email": row["email"]}


def _batches(items: Sequence, size: int):
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + size]


def send_bulk(cfg: smtp.SmtpConfig, bulk: Bulk, sent_log, batch_size: int = 20,
              on_progress: ProgressFn | None = None) -> dict:
    """One message per recipient (each sees only its own address), over one connection, in batches.

    Recipients in `sent_log` are skipped (``already_sent``); each delivery is recorded there at once.
    A refused (5xx) or deferred (4xx) recipient gets that outcome and the run goes on.
    `on_progress(done, total, message)` is called after each batch.

    Returns ``{'status': 'completed' | 'partial', 'total', 'sent', 'already_sent', 'refused',
    'deferred', 'invalid', 'results': [{'email', 'status', 'message_id'?, 'error'?}], 'smtp'}``
    with results in input order; 'partial' when any recipient was not delivered.

    Raises:
        ServiceUnavailable: the connection failed mid-run (retry: delivered ones are skipped).
        DeliveryRefused / DeliveryDeferred / NotConfigured: the connection or login itself failed.
    """
    done = sent_log.sent()
    outcome: dict[str, dict] = {r["email"]: {"email": r["email"], "status": "already_sent",
                                             "message_id": done[r["email"]]}
                                for r in bulk.rows if r["email"] in done}
    pending = [r for r in bulk.rows if r["email"] not in done]
    total = len(bulk.rows)
    if pending:
        with smtp.connect(cfg) as conn:
            batches = list(_batches(pending, batch_size))
            for number, batch in enumerate(batches, start=1):
                for row in batch:
                    outcome[row["email"]] = _send_row(conn, cfg, bulk, row, sent_log)
                if on_progress:
                    on_progress(len(outcome), total, f"batch {number}/{len(batches)} sent")
    results = [outcome[r["email"]] for r in bulk.rows]
    counts = {k: sum(1 for r in results if r["status"] == k)
              for k in ("sent", "already_sent", "refused", "deferred", "invalid")}
    ok = counts["sent"] + counts["already_sent"] == total
    return {"status": "completed" if ok else "partial", "total": total, **counts, "results": results,
            "smtp": cfg.describe()}


def _send_row(conn, cfg: smtp.SmtpConfig, bulk: Bulk, row: dict, sent_log) -> dict:
    email = row["email"]
    try:
        rendered = bulk.templates.render(row_context(row))
        msg = message.build_message(sender=cfg.sender, to=[email], subject=rendered.subject,
                                    text=rendered.text, html=rendered.html, attachments=bulk.attachments,
                                    message_id=message.message_id_for(sent_log.task_id, cfg.sender, email)
                                    if sent_log.task_id else None)
    except InvalidInput as exc:
        return {"email": email, "status": "invalid", "error": str(exc)}
    with sent_log.sending(email) as claim:
        if claim.already_sent:
            return {"email": email, "status": "already_sent", "message_id": claim.already_sent}
        try:
            smtp.send_bytes(conn, cfg, cfg.sender, [email], message.to_bytes(msg))
        except DeliveryDeferred as exc:
            return {"email": email, "status": "deferred", "error": str(exc)}
        except DeliveryRefused as exc:
            return {"email": email, "status": "refused", "error": str(exc)}
        sent_log.mark(email, msg["Message-ID"])
    row = {"email": email, "status": "sent", "message_id": msg["Message-ID"]}
    if claim.resumed:
        row["possible_duplicate"] = True
    return row
