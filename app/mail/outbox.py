"""Reading the dev sink's stored messages (see `app.mail.sink` for the file layout).

`list_messages` reads the newest `limit` entries only (names sort by receive time), parsing headers
and the envelope sidecar; `read_message` parses one message fully (stdlib `email` parser, default
policy, wire CRLF read as newlines) into its text, HTML and attachments. Names are checked against the sink's pattern, so a
name can never point outside the outbox.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

from app.errors import InvalidInput

_NAME_RE = re.compile(r"^\d{10,25}-[0-9a-f]{8}$")


@dataclass(frozen=True)
class OutboxEntry:
    """One stored message: `name` (its id), envelope, main headers, receive time (epoch s), size."""

    name: str
    mail_from: str
    rcpt_tos: list[str]
    from_header: str
    to_header: str
    subject: str
    received_at: float
    size_bytes: int


@dataclass(frozen=True)
class AttachmentPart:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutboxMessage:
    """A parsed message: entry, all headers in order, text and HTML bodies (None if absent), attachments."""

    entry: OutboxEntry
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[AttachmentPart] = field(default_factory=list)


def _entry(directory: Path, name: str) -> OutboxEntry:
    eml = directory / f"{name}.eml"
    with eml.open("rb") as fh:
        headers = BytesHeaderParser(policy=policy.default).parse(fh)
    try:
        meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    return OutboxEntry(name=name, mail_from=meta.get("mail_from", ""), rcpt_tos=list(meta.get("rcpt_tos", [])),
                       from_header=str(headers.get("From", "")), to_header=str(headers.get("To", "")),
                       subject=str(headers.get("Subject", "")),
                       received_at=float(meta.get("received_at") or int(name.split("-")[0]) / 1e9),
                       size_bytes=int(meta.get("size_bytes") or eml.stat().st_size))


def list_messages(directory: Path, limit: int = 200) -> list[OutboxEntry]:
    """The newest `limit` messages, newest first ([] when the outbox does not exist yet)."""
    try:
        names = [e.name[:-4] for e in os.scandir(directory) if e.name.endswith(".eml") and e.is_file()]
    except FileNotFoundError:
        return []
    names = sorted((n for n in names if _NAME_RE.match(n)), reverse=True)[:limit]
    out = []
    for name in names:
        try:
            out.append(_entry(Path(directory), name))
        except OSError:
            continue  # removed meanwhile
    return out


def count(directory: Path) -> int:
    """How many messages the outbox holds."""
    try:
        return sum(1 for e in os.scandir(directory) if e.name.endswith(".eml"))
    except FileNotFoundError:
        return 0


def read_message(directory: Path, name: str) -> OutboxMessage:
    """Parse one stored message.

    Raises:
        InvalidInput: `name` is not an outbox id, or the message is gone.
    """
    if not _NAME_RE.match(name or ""):
        raise InvalidInput(f"{name!r} is not an outbox message id.")
    directory = Path(directory)
    try:
        entry = _entry(directory, name)
        raw = (directory / f"{name}.eml").read_bytes()
        msg = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
    except FileNotFoundError:
        raise InvalidInput(f"Outbox message {name} no longer exists.") from None
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    atts = [AttachmentPart(part.get_filename() or "attachment", part.get_content_type(),
                           part.get_payload(decode=True) or b"")
            for part in msg.iter_attachments()] if msg.is_multipart() else []
    return OutboxMessage(entry=entry, headers=[(k, str(v)) for k, v in msg.items()],
                         text=text.get_content() if text is not None else None,
                         html=html.get_content() if html is not None else None, attachments=atts)
