"""Building one message with the stdlib `email.message.EmailMessage` API.

Shape: text only → ``text/plain``; text + HTML → ``multipart/alternative``; with attachments → a
``multipart/mixed`` holding the alternative part and one part per attachment, typed by
`mimetypes.guess_type` on the attachment's name (``application/octet-stream`` when unknown). Bcc
addresses never appear in the headers: they are envelope recipients only (RFC 5322 §3.6.3).
Serialized with `email.policy.SMTP` (CRLF line ends, lines folded at 78).
"""
from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from app.errors import FileTooLarge, InvalidInput
from app.files import storage
from app.mail.addresses import check_header


@dataclass(frozen=True)
class Attachment:
    """A stored file to attach: its path under DATA_DIR, the name shown to the reader, its MIME type."""

    path: Path
    filename: str
    content_type: str
    size_bytes: int


def resolve_attachments(data_dir: Path, items: Iterable[str | dict] | None, max_total_bytes: int) -> list[Attachment]:
    """Attachments from task arguments: each a stored path, or ``{'path': ..., 'filename': ...}``.

    Raises:
        InvalidInput: a path outside DATA_DIR, a missing file, a file name with a line break.
        FileTooLarge: the files together exceed `max_total_bytes` (EMAIL_MAX_ATTACHMENT_MB).
    """
    out: list[Attachment] = []
    for item in items or []:
        path_text, name = (item.get("path"), item.get("filename")) if isinstance(item, dict) else (item, None)
        if not path_text:
            raise InvalidInput("An attachment has no path: upload the file again.")
        path = storage.existing_file(data_dir, str(path_text), "The attachment {name} is missing: upload it again.")
        filename = check_header("Attachment name", Path(str(name or path.name).replace("\\", "/")).name) or path.name
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        out.append(Attachment(path, filename, ctype, path.stat().st_size))
    total = sum(a.size_bytes for a in out)
    if total > max_total_bytes:
        raise FileTooLarge(f"Attachments total {total / 1024 / 1024:.1f} MB; the limit is "
                           f"{max_total_bytes / 1024 / 1024:.0f} MB (EMAIL_MAX_ATTACHMENT_MB).")
    return out


def build_message(*, sender: str, to: Sequence[str], subject: str, text: str, html: str | None = None,
                  attachments: Sequence[Attachment] = (), cc: Sequence[str] = (),
                  reply_to: str | None = None, now: datetime | None = None,
                  message_id: str | None = None) -> EmailMessage:
    """One `EmailMessage` with From, To, Cc, Reply-To, Subject, Date and `message_id` (a fresh one
    when None; tasks pass `message_id_for` so every attempt of one task sends the same Message-ID).

    Addresses must already be validated (`addresses.check_address`).

    Raises:
        InvalidInput: a line break in the subject or sender.
    """
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = check_header("From", sender)
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = check_header("Subject", subject)
    msg["Date"] = format_datetime(now or datetime.now(timezone.utc))
    domain = sender.rpartition("@")[2].strip(">") or None
    msg["Message-ID"] = message_id or make_msgid(domain=domain)
    msg.set_content(text or "")
    if html:
        msg.add_alternative(html, subtype="html")
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.path.read_bytes(), maintype=maintype, subtype=subtype, filename=att.filename)
    return msg


def message_id_for(task_id: str, sender: str, recipient: str | None = None) -> str:
    """The Message-ID every attempt of task `task_id` uses: ``<task id@sender domain>``, or for one
    recipient of a bulk run ``<task id.sha256(recipient)[:16]@domain>``. Receivers de-duplicate on it
    (RFC 5322 §3.6.4: a Message-ID names one message)."""
    domain = sender.rpartition("@")[2].strip("> ") or "localhost"
    local = task_id if recipient is None else f"{task_id}.{hashlib.sha256(recipient.lower().encode()).hexdigest()[:16]}"
    return f"<{local}@{domain}>"


def to_bytes(msg: EmailMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends; `email.policy.SMTP`)."""
    return msg.as_bytes(policy=policy.SMTP)
