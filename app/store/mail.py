"""Email idempotency records and scheduled-send cancel markers (keys in `app.store.keys`).

- Sent log, one hash per task id: recipient address → Message-ID of each message the task
  delivered, so a retried or redelivered task skips them (TTL MAIL_SENT_TTL_S).
- Cancel marker, one string per task id: set when the operator cancels a scheduled send.
"""
from __future__ import annotations

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
