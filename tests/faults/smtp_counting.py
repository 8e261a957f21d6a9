"""A counting SMTP server for the fault suite (aiosmtpd): counts every message that reaches DATA by
Message-ID, and acts on tags in the subject before it replies:

- ``[stall:N]``     wait N seconds before answering 250 (a send in flight);
- ``[stall-first:N]`` the same, only for the first copy of a Message-ID;
- ``[kill-once]``   the first time this Message-ID arrives, SIGKILL the pool process sending it
                    (found from the task's STARTED meta in the result backend: Message-IDs are
                    ``<task id@domain>``), then wait; later copies are accepted;
- ``[kill-always]`` kill the sender every time (a poison task).

A message counts as received when its DATA is complete, before the reply: a copy that reached the
server while its sender died still counts (that is what a receiver may see twice).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
import time
from collections import Counter
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

_STALL = re.compile(r"\[stall:(\d+(?:\.\d+)?)\]")
_STALL_FIRST = re.compile(r"\[stall-first:(\d+(?:\.\d+)?)\]")


class CountingHandler:
    def __init__(self, redis_client):
        self.redis = redis_client  # the stack's result backend, to find a task's pool process
        self.received: Counter = Counter()
        self.subjects: dict[str, str] = {}
        self.kills: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def copies(self, message_id: str) -> int:
        with self.lock:
            return self.received[message_id]

    def by_task(self, task_id: str) -> Counter:
        with self.lock:
            return Counter({m: n for m, n in self.received.items() if m.strip("<>").startswith(task_id)})

    def _pool_pid(self, task_id: str) -> int | None:
        raw = self.redis.get(f"celery-task-meta-{task_id}")
        if not raw:
            return None
        meta = json.loads(raw)
        result = meta.get("result") if isinstance(meta.get("result"), dict) else {}
        return result.get("pid") if meta.get("status") in ("STARTED", "PROGRESS") else None

    def _kill_sender(self, message_id: str) -> None:
        task_id = message_id.strip("<>").split("@")[0].split(".")[0]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pid = self._pool_pid(task_id)
            if pid:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                    self.kills.append((task_id, int(pid)))
                except ProcessLookupError:
                    pass
                return
            time.sleep(0.05)

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        message_id, subject = str(msg["Message-ID"]).strip(), str(msg["Subject"] or "")
        with self.lock:
            self.received[message_id] += 1
            self.subjects[message_id] = subject
            first = self.received[message_id] == 1
        loop = asyncio.get_running_loop()
        if "[kill-always]" in subject or ("[kill-once]" in subject and first):
            await loop.run_in_executor(None, self._kill_sender, message_id)
            await asyncio.sleep(1)
        stall = _STALL.search(subject) or (_STALL_FIRST.search(subject) if first else None)
        if stall:
            await asyncio.sleep(float(stall.group(1)))
        return "250 OK"


class CountingSmtp:
    """Start with `start()`, stop with `stop()`; `port`, `handler`."""

    def __init__(self, redis_client, port: int):
        self.handler = CountingHandler(redis_client)
        self.port = port
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port)

    def start(self) -> "CountingSmtp":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
