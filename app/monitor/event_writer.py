"""The event ingester's history writer: the store's write path, fed in large batches.

`app.store.writer`'s per-process writer sends at most 200 changes per 50 ms linger (about 4,000
changes/s, by design for a worker process that records a few tasks). A Celery-event stream of a
whole app is far denser, so the ingester keeps its own background thread that gathers entries and
writes them with the store's own functions: `writer._merge` (a task's changes in one batch become
one change) and `writer._send` (ONE call of the store's Lua script per batch, the batch as one JSON
argument). Same keys, same script, same ordering and two-writer rules as every other writer.

Batching: the thread waits for a first entry, lets entries gather for LINGER_S (so a task's four
events usually fall into one batch and cost Redis one change), then sends up to MAX_BATCH entries
per script call; while a backlog remains it sends the next batch at once (no linger).

Errors: a Redis error is logged and the batch dropped (as the store's writer does: history never
blocks the ingester). A SIGKILLed ingester loses what this writer still holds (normally < LINGER_S
of events, plus any backlog).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable

from app.store import writer

log = logging.getLogger(__name__)


class BatchWriter:
    """Background writer of store entries ``(task_id, state, fields, timestamp, kwargs)`` (the
    tuples `app.monitor.event_changes.entry_for` returns; kwargs as `app.store.writer.write`'s).

    Args:
        client_factory: returns the history's redis.Redis (decode_responses=True); called once,
            lazily, on the writer thread.
    """

    #: Entries (events) per script call: ~60 tasks once merged, 2-4 ms of Redis time. Not more:
    #: while Redis runs the script it sends the ingester no events (it writes at most 64 KB to a
    #: client per event-loop turn, ~200 events), so long calls starve the receiving side. Measured
    #: (bench/bench_events.py harness, backlog, 4 publishers, same load, paired): 1,000 per call
    #: ~9,000 events/s, 250 per call ~15,600 events/s; CPU per event the same.
    MAX_BATCH = 250
    #: Gathering time before a batch leaves when there is no backlog (the store's writer's linger).
    LINGER_S = 0.05

    def __init__(self, client_factory: Callable[[], Any]):
        self._client_factory = client_factory
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._idle = True
        self._done = threading.Condition()
        self.queued = 0
        self.written = 0
        #: CPU seconds this writer's thread has used (encoding and sending), for benchmarks.
        self.cpu_s = 0.0
        self._thread: threading.Thread | None = None

    def put(self, entry: tuple) -> None:
        """Queue one entry (cheap: a deque append; the thread is woken only when idle)."""
        self._queue.append(entry)
        self.queued += 1
        if self._idle:
            self._start()
            self._wake.set()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="event-history-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        client = self._client_factory()
        pop = self._queue.popleft
        while True:
            self._idle = True
            if not self._queue:
                self._wake.wait()
                self._wake.clear()
                self._idle = False
                time.sleep(self.LINGER_S)
            self._idle = False
            batch = []
            try:
                for _ in range(self.MAX_BATCH):
                    batch.append(pop())
            except IndexError:
                pass
            if not batch:
                continue
            cpu0 = time.thread_time()
            try:
                writer._send(client, writer._merge(batch))
            except Exception as exc:  # noqa: BLE001 - history must never stop the ingester
                log.warning("task history write of %d event(s) failed: %s", len(batch), exc)
            self.cpu_s += time.thread_time() - cpu0
            with self._done:
                self.written += len(batch)
                self._done.notify_all()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every entry queued so far has been sent (or dropped on error); False on
        timeout."""
        target = self.queued
        if self.written >= target:
            return True
        with self._done:
            return self._done.wait_for(lambda: self.written >= target, timeout_s)
