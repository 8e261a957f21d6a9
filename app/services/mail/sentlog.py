"""Who a mail task already delivered to, kept in Redis so a retried or redelivered task never sends
twice to the same recipient (issue 3 "idempotency: the task records who was sent").

One hash per task id (`app.store.mail`): recipient address → Message-ID, written right
after the SMTP server accepted that recipient's message, read once when the task (re)starts. The
window that remains is between the server's "250 OK" and the HSET (one round trip).
"""
from __future__ import annotations

from app.store import mail as mail_store


class SentLog:
    """The delivered-recipients record of one task. `client` is a redis.Redis (decode_responses)."""

    def __init__(self, client, task_id: str, ttl_s: int = mail_store.MAIL_SENT_TTL_S):
        self.client, self.task_id, self.ttl_s = client, task_id, ttl_s

    def sent(self) -> dict[str, str]:
        """``{address: message_id}`` of every recipient already delivered by this task."""
        return mail_store.sent(self.client, self.task_id)

    def mark(self, address: str, message_id: str) -> None:
        """Record that `address` was delivered as `message_id` (one pipelined round trip)."""
        mail_store.mark_sent(self.client, self.task_id, address, message_id, self.ttl_s)


class MemorySentLog:
    """A SentLog kept in memory, for a direct call outside a task (no retries to protect)."""

    def __init__(self):
        self._sent: dict[str, str] = {}

    def sent(self) -> dict[str, str]:
        return dict(self._sent)

    def mark(self, address: str, message_id: str) -> None:
        self._sent[address] = message_id
