"""Email idempotency records and scheduled-send cancel markers (keys in `app.store.keys`).

- Sent log, one hash per task id: recipient address → Message-ID of each message the task
  delivered, so a retried or redelivered task skips them (TTL MAIL_SENT_TTL_S).
- Cancel marker, one string per task id: set when the operator cancels a scheduled send.
- Sending claim, one string per task id and recipient: the token of the run inside the
  SMTP transaction, with a lease in ms that the holder renews; and a "started" hash per task id:
  recipient -> time a run began the transaction (so a later run knows an earlier one died in it).
"""
from __future__ import annotations

from pathlib import Path
import time

from app.store import keys

#: How long the records live (covers every retry and any ETA below the 12 h visibility timeout).
MAIL_SENT_TTL_S = keys.MAIL_SENT_TTL_S


def sent(client, task_id: str) -> dict[str, str]:
    """``{address: message_id}`` of every recipient task `task_id` already delivered to."""
    return dict(client.hgetall(keys.mail_sent(task_id)))


def mark_sent(client, task_id: str, address: str, message_id: str, ttl_s: int = MAIL_SENT_TTL_S) -> None:
    """Record that task `task_id` delivered to `address` as `message_id` (one pipelined round trip)."""
    key = keys.mail_sent(task_id)
    pipe = client.pipeline(transaction=False)
    pipe.hset(key, address, message_id)
    pipe.expire(key, ttl_s)
    pipe.execute()


def cancel(client, task_id: str, ttl_s: int = MAIL_SENT_TTL_S) -> None:
    """Mark the scheduled send `task_id` as cancelled."""
    client.set(keys.mail_cancelled(task_id), "1", ex=ttl_s)


def is_cancelled(client, task_id: str) -> bool:
    """True when the operator cancelled the scheduled send `task_id`."""
    return bool(client.exists(keys.mail_cancelled(task_id)))


_RENEW_LUA = Path(__file__).with_name("mail_renew.lua").read_text(encoding="utf-8")
_RELEASE_LUA = Path(__file__).with_name("mail_release.lua").read_text(encoding="utf-8")


def take_claim(client, task_id: str, recipient: str, token: str, lease_ms: int) -> bool:
    """Take the sending claim of (`task_id`, `recipient`) for `lease_ms` if nobody holds it."""
    return bool(client.set(keys.mail_claim(task_id, recipient), token, nx=True, px=lease_ms))


def renew_claim(client, task_id: str, recipient: str, token: str, lease_ms: int) -> bool:
    """Extend the claim to `lease_ms` from now if `token` still holds it."""
    return bool(client.eval(_RENEW_LUA, 1, keys.mail_claim(task_id, recipient), token, lease_ms))


def release_claim(client, task_id: str, recipient: str, token: str) -> None:
    """Drop the claim if `token` holds it."""
    client.eval(_RELEASE_LUA, 1, keys.mail_claim(task_id, recipient), token)


def sent_to(client, task_id: str, recipient: str) -> str | None:
    """The Message-ID task `task_id` delivered to `recipient`, or None."""
    return client.hget(keys.mail_sent(task_id), recipient)


def mark_started(client, task_id: str, recipient: str, ttl_s: int = MAIL_SENT_TTL_S) -> bool:
    """Note that a run begins the SMTP transaction for `recipient`; True when an earlier run had
    begun it too (and, since the caller holds the claim and found no sent record, died in it)."""
    key = keys.mail_started(task_id)
    pipe = client.pipeline(transaction=True)
    pipe.hexists(key, recipient)
    pipe.hset(key, recipient, time.time())
    pipe.expire(key, ttl_s)
    return bool(pipe.execute()[0])
