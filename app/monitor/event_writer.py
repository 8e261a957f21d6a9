"""The event ingester's history writer: the store's write path, fed in large batches.

`app.store.writer`'s per-process writer is made for a process that records a few tasks (200
changes per call, a 50 ms linger unless a backlog waits). A Celery-event stream of a whole app is
far denser, so the ingester keeps its own background thread that gathers entries and writes them
with the store's `writer.write_batch` (a task's changes in one batch become one change; ONE call of
the store's Lua script per batch, the batch as one JSON argument). Same keys, same script, same
ordering and two-writer rules as every other writer.

Batching: the thread waits for a first entry, lets entries gather for LINGER_S (so a task's four
events usually fall into one batch and cost Redis one change), then sends up to MAX_BATCH entries
per script call; while a backlog remains it sends the next batch at once (no linger).

Errors: a Redis error is logged and the batch dropped (as the store's writer does: history never
blocks the ingester). A SIGKILLed ingester loses what this writer still holds (normally < LINGER_S
of events, plus any backlog).
"""
from __future__ import annotations

import atexit
import collections
import logging
import threading
import time
from typing import Any, Callable

from app.store import writer

log = logging.getLogger(__name__)


def _init_queue(owner) -> None:
    """The entry queue both writers share the shape of: a deque, the wake event and idle flag
    `_gather` uses, a condition `flush` waits on, and the counters (``cpu_s``: CPU seconds the
    writing side used, for benchmarks)."""
    owner._queue = collections.deque()
    owner._wake = threading.Event()
    owner._idle = True
    owner._done = threading.Condition()
    owner.queued = owner.written = 0
    owner.cpu_s = 0.0


def _gather(owner, pop, size: int) -> list:
    """Up to `size` entries from `owner._queue` (popped with `pop`): when it is empty, mark the
    owner idle (its `put` then sets `owner._wake`), wait, and linger `owner.LINGER_S` so a task's
    events arrive together; with a backlog, take at once."""
    owner._idle = True
    if not owner._queue:
        owner._wake.wait()
        owner._wake.clear()
        owner._idle = False
        time.sleep(owner.LINGER_S)
    owner._idle = False
    out = []
    try:
        for _ in range(size):
            out.append(pop())
    except IndexError:
        pass
    return out


class BatchWriter:
    """Background writer of store entries ``(task_id, state, fields, timestamp, kwargs)`` (the
    tuples `app.monitor.event_changes.entry_for` returns; kwargs as `app.store.writer.write`'s).

    Args:
        client_factory: returns the history's redis.Redis (decode_responses=True); called once,
            lazily, on the writer thread.
    """

    #: Whether `cpu_s` is spent outside this process (False: it is part of this process's CPU).
    SEPARATE_PROCESS = False
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
        _init_queue(self)
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
            batch = _gather(self, pop, self.MAX_BATCH)
            if not batch:
                continue
            cpu0 = time.thread_time()
            try:
                writer.write_batch(client, batch)
            except Exception as exc:  # noqa: BLE001 - history must never stop the ingester
                log.warning("task history write of %d event(s) failed: %s", len(batch), exc)
            self.cpu_s += time.thread_time() - cpu0
            with self._done:
                self.written += len(batch)
                self._done.notify_all()

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush (the thread is a daemon: it ends with the process)."""
        self.flush(timeout_s)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every entry queued so far has been sent (or dropped on error); False on
        timeout."""
        target = self.queued
        if self.written >= target:
            return True
        with self._done:
            return self._done.wait_for(lambda: self.written >= target, timeout_s)


class ProcessWriter:
    """`BatchWriter`'s interface with the merge, encoding and script calls in a child process
    (`_child_main`), so they do not share the receiving process's interpreter lock (the receive
    side then has a core of its own on a 2-core machine).

    The receiving side only appends to a deque; a feeder thread lingers LINGER_S when idle, then
    sends the gathered entries to the child through a pipe (pickled lists of up to CHUNK). The
    child writes them MAX_BATCH at a time and acknowledges each batch, which `flush` waits for.

    Lifetime: the child ignores SIGINT/SIGTERM (a Ctrl-C or ``kill`` of the process group must not
    lose what it holds: the parent's `flush` drains it) and exits when its pipe closes (the parent
    exited or was killed), after writing what it has received. A SIGKILL of both loses what was in
    flight, as with the thread writer.

    If the child dies on its own (killed, out of memory), what it held is lost, later entries are
    dropped with an error logged, and `on_exit` (when set) is called once: the ingester stops and
    exits non-zero so its supervisor restarts it (and the restart reconciles from the result
    backend).

    Args:
        redis_url: the history's Redis URL (`app.store.clients.redis_from_url`).
        retention_s, max_tasks: the store's settings (`app.store.writer.write_batch`).
        on_exit: called (from a helper thread) when the child exits while not closing.
    """

    SEPARATE_PROCESS = True
    LINGER_S = BatchWriter.LINGER_S
    MAX_BATCH = BatchWriter.MAX_BATCH
    #: Entries per pipe message.
    CHUNK = 1_000

    def __init__(self, redis_url: str, retention_s: int, max_tasks: int,
                 on_exit: Callable[[], None] | None = None):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads and sockets
        inbox_r, self._inbox = ctx.Pipe(duplex=False)
        self._acks, acks_w = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, name="event-history-writer", daemon=True,
                                 args=(inbox_r, acks_w, redis_url, retention_s, max_tasks, self.MAX_BATCH))
        self._proc.start()
        inbox_r.close()
        acks_w.close()
        _init_queue(self)
        self.dropped = 0
        self.alive = True
        self.on_exit = on_exit
        self._closing = False
        # before multiprocessing's own exit handler (atexit runs last-registered first), which
        # would SIGTERM the child (ignored) and wait for it forever
        atexit.register(self.close)
        threading.Thread(target=self._feed, name="event-writer-feed", daemon=True).start()
        threading.Thread(target=self._read_acks, name="event-writer-acks", daemon=True).start()

    def put(self, entry: tuple) -> None:
        """Queue one entry (a deque append; the feeder is woken only when idle)."""
        self._queue.append(entry)
        self.queued += 1
        if self._idle:
            self._wake.set()

    def _feed(self) -> None:
        pop = self._queue.popleft
        while True:
            chunk = _gather(self, pop, self.CHUNK)
            if not chunk:
                continue
            try:
                if not self.alive:
                    raise OSError("not running")
                self._inbox.send(chunk)
            except (OSError, ValueError) as exc:  # the child is gone
                log.error("event history writer process gone (%s): %d event(s) dropped", exc, len(chunk))
                self.dropped += len(chunk)

    def _read_acks(self) -> None:
        while True:
            try:
                count, cpu_s = self._acks.recv()
            except (EOFError, OSError):
                with self._done:
                    self.alive = False
                    self._done.notify_all()
                if not self._closing:
                    self._proc.join(1.0)
                    log.error("event history writer process exited (code %s)", self._proc.exitcode)
                    if self.on_exit is not None:
                        self.on_exit()
                return
            with self._done:
                self.written += count
                self.cpu_s = cpu_s
                self._done.notify_all()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every entry queued so far has been written by the child; False on timeout
        or once the child has exited on its own."""
        target = self.queued
        with self._done:
            self._done.wait_for(lambda: self.written >= target or not self.alive, timeout_s)
            return self.alive and self.written >= target

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush, then close the pipe and let the child exit (killed after `timeout_s` more).
        Idempotent; also run at interpreter exit."""
        if self._closing:
            return
        self.flush(timeout_s)
        self._closing = True
        self._inbox.close()
        self._proc.join(timeout_s)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(1.0)


def _child_main(inbox, acks, redis_url: str, retention_s: int, max_tasks: int, max_batch: int) -> None:
    """The writer process of `ProcessWriter`: receive lists of entries, write them max_batch at a
    time through the store's script, acknowledge ``(count, CPU seconds used so far)`` per batch."""
    import signal

    from app.store.clients import redis_from_url

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = redis_from_url(redis_url)
    cpu0 = time.process_time()
    pending: list = []
    open_ = True
    while open_ or pending:
        if open_ and not pending:
            try:
                pending.extend(inbox.recv())
            except (EOFError, OSError):
                open_ = False
                continue
        while open_ and len(pending) < max_batch and inbox.poll(0):
            try:
                pending.extend(inbox.recv())
            except (EOFError, OSError):
                open_ = False
        batch, pending = pending[:max_batch], pending[max_batch:]
        try:
            writer.write_batch(client, batch, retention_s=retention_s, max_tasks=max_tasks)
        except Exception as exc:  # noqa: BLE001 - history must never stop the ingester
            log.warning("task history write of %d event(s) failed: %s", len(batch), exc)
        try:
            acks.send((len(batch), time.process_time() - cpu0))
        except (OSError, ValueError):
            pass  # the parent is gone: keep writing what was received
