"""Who a mail task already delivered to, and who is sending right now, kept in Redis so a retried,
redelivered or concurrent run of one task never sends twice to the same recipient (the task
records whom it sent to, and claims a recipient before sending).

Per task id (records in `app.store.mail`):

- sent log: recipient -> Message-ID, written right after the SMTP server accepted that recipient's
  message, read once when the task (re)starts;
- sending claim (one per recipient, ``*`` for a single message to all its recipients): taken with
  ``SET NX PX`` before the SMTP transaction and renewed every lease/3 by a thread while the run is
  alive, so two runs of one task are never inside the transaction together;
- started mark: recipient -> time a run began its SMTP transaction.

**The rule for a claim from a dead attempt.** A run that finds the claim held waits up to the lease
(EMAIL_CLAIM_LEASE_S) for it: a live holder finishes (the waiter then sees "already sent") or keeps
renewing (the waiter gives up with ServiceUnavailable and the task retries later); a dead holder's
claim expires. A run that then takes the claim and finds a started mark without a sent record knows
an earlier attempt died inside the SMTP transaction: the server may or may not have accepted that
message. It **sends again with the same Message-ID** (deterministic, `message.message_id_for`) and
reports ``possible_duplicate: True``: receivers de-duplicate on Message-ID (RFC 5322 §3.6.4) and
nothing is silently lost.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.errors import ServiceUnavailable
from app.store import mail as mail_store

#: Claim name for a single message to all its recipients.
WHOLE_MESSAGE = "*"


@dataclass
class Claim:
    """What a run learned when it took the sending claim for one recipient (or the whole message).

    `already_sent`: the Message-ID when an earlier run delivered it (send nothing).
    `resumed`: an earlier attempt began this send and died before recording it (send again with the
    same Message-ID; the result says ``possible_duplicate``).
    """

    already_sent: str | None = None
    resumed: bool = False


class _Renewer(threading.Thread):
    """Renews one claim every lease/3 until `done` is set (a dead process stops renewing)."""

    def __init__(self, client, task_id: str, recipient: str, token: str, lease_ms: int):
        super().__init__(name="mail-claim-renewer", daemon=True)
        self.args_ = (client, task_id, recipient, token, lease_ms)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.args_[-1] / 3000):
            try:
                mail_store.renew_claim(*self.args_)
            except Exception:  # noqa: BLE001 - a missed renewal only shortens the lease
                pass


class SentLog:
    """The delivered-recipients record and sending claims of one task. `client` is a redis.Redis
    (decode_responses)."""

    def __init__(self, client, task_id: str, ttl_s: int = mail_store.MAIL_SENT_TTL_S, lease_s: float = 15.0):
        self.client, self.task_id, self.ttl_s = client, task_id, ttl_s
        self.lease_ms = int(lease_s * 1000)

    def sent(self) -> dict[str, str]:
        """``{address: message_id}`` of every recipient already delivered by this task."""
        return mail_store.sent(self.client, self.task_id)

    def mark(self, address: str, message_id: str) -> None:
        """Record that `address` was delivered as `message_id` (one pipelined round trip)."""
        mail_store.mark_sent(self.client, self.task_id, address, message_id, self.ttl_s)

    def _already(self, recipient: str) -> str | None:
        if recipient == WHOLE_MESSAGE:
            return next(iter(self.sent().values()), None)
        return mail_store.sent_to(self.client, self.task_id, recipient)

    @contextmanager
    def sending(self, recipient: str = WHOLE_MESSAGE) -> Iterator[Claim]:
        """Hold the sending claim for `recipient` while the block runs (see the module docstring).

        Raises:
            ServiceUnavailable: another live run held the claim for longer than the lease.
        """
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + self.lease_ms / 1000 + 2
        while not mail_store.take_claim(self.client, self.task_id, recipient, token, self.lease_ms):
            done = self._already(recipient)
            if done:
                yield Claim(already_sent=done)
                return
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"Another run of this task is sending to {recipient} right now; "
                                         "retrying later (it will then be reported as already sent).")
            time.sleep(0.1)
        renewer = _Renewer(self.client, self.task_id, recipient, token, self.lease_ms)
        try:
            done = self._already(recipient)
            if done:
                yield Claim(already_sent=done)
                return
            resumed = mail_store.mark_started(self.client, self.task_id, recipient, self.ttl_s)
            renewer.start()
            yield Claim(resumed=resumed)
        finally:
            renewer.done.set()
            try:
                mail_store.release_claim(self.client, self.task_id, recipient, token)
            except Exception:  # noqa: BLE001 - the lease expires by itself
                pass


class MemorySentLog:
    """A SentLog kept in memory, for a direct call outside a task (no retries to protect)."""

    task_id = None

    def __init__(self):
        self._sent: dict[str, str] = {}

    def sent(self) -> dict[str, str]:
        return dict(self._sent)

    def mark(self, address: str, message_id: str) -> None:
        self._sent[address] = message_id

    @contextmanager
    def sending(self, recipient: str = WHOLE_MESSAGE) -> Iterator[Claim]:
        done = next(iter(self._sent.values()), None) if recipient == WHOLE_MESSAGE else self._sent.get(recipient)
        yield Claim(already_sent=done)
