"""The history write path: record a task's state change into the Redis layout of `app.store.keys`.

A `HistoryWriter` is the write path of one process (the composition root, `app.runtime`, builds
one per process from the settings; a test or a benchmark builds its own)::

    writer = HistoryWriter(client_factory, retention_s=..., max_tasks=...)
    writer.record(StateChange(task_id, "STARTED", timestamp=1733090000.0, name=..., worker=...))
    writer.flush()                                                      # before reading it back
    writer.close()                                                      # its owner, at the end

Changes are queued to a background thread of the process (`_Sender`, owned by the writer and
started on the first change) that sends them in batches after a 50 ms linger, folding a fast
task's changes into one, and writes each batch with ONE server-side script call (EVALSHA of
``record_changes.lua`` beside this module, the batch passed as one JSON argument): per change it
updates the task hash (its timeline entries are fields of the same hash), moves the id between
state indexes, adds it to the name and word indexes the first time the task has that name or
arguments, and refreshes the TTL when the task is new or finishes (the index changes are gathered
per key and sent as one ZADD / ZREM per key and batch: a batch holds each task once, `_merge`);
per batch it adds the per-minute counters, failure-rate counters (``cc:rate:<minute>``), runtime
histograms and per-worker counts once per key, and updates the failure group of each failure
(`app.store.failure_groups`). A writer that does its own batching (the Celery-event ingester)
calls `write_batch`.

Processes: a writer built before a fork (a prefork worker's parent) starts afresh in the child on
its first change: its own Redis client and its own sender thread, nothing shared with the parent.

Ordering rule (so two writers, or a late publisher, never move a task backwards): a change whose
timestamp is older than the hash's ``updated_at`` (the time the stored state was entered), or a SENT
arriving after any other state, only fills fields the hash lacks and adds its timeline entry; the
state, the state indexes and the values already there keep the newer ones. Equal timestamps apply
in arrival order.

Two writers, one record: the signal adapter and the Celery-event ingester both report the same
steps of the console's own tasks. Each hash keeps, per writer, the sequence of steps it recorded
(``seen_s`` / ``seen_e``, one mark per step, `WRITER_MARKS`); a step the other writer has already
recorded as many times is a duplicate: it only fills missing fields, adds no timeline entry and
counts nowhere (per-minute counters, runtime histogram, per-worker counts). Retries stay right
because a step is counted per occurrence (STARTED twice after a RETRY is two steps).

Errors: a Redis error is logged and swallowed (history must never make a task fail); a SIGKILLed
process loses what its writer still holds (normally the last 50 ms).

Hash fields of ``cc:task:<id>``: name, state, queue, worker, args, kwargs (redacted JSON text
for display), args_json / kwargs_json (exact JSON for "retry with the same arguments", only when
under ARGS_JSON_MAX_BYTES; "=" when equal to the shown text), ``t1``, ``t2``, … and ``tn`` (the
timeline, `timeline_entry`), ``seen_s`` / ``seen_e`` (steps per writer), eta, expires, retries,
parent_id, root_id, retry_of, sent_at, received_at, started_at, finished_at, updated_at (epoch
seconds), runtime_s, result, exception, traceback, progress (JSON), reason, pid, priority (the
broker's ``priority`` value as published).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import queue
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

from app.store import failure_groups, keys, tokens
from app.store.histogram import bucket_for
from app.store.states import STATE_TIME_FIELD, TIMED_STATES, UNINDEXED_STATE, WORKER_COUNTED_STATES
from app.store.tokens import words

log = logging.getLogger(__name__)

#: Exact args/kwargs JSON above this size is not kept (the task then cannot be re-sent as is).
ARGS_JSON_MAX_BYTES = 64 * 1024

#: The batch script, read once. ARGV holds the header (`_header`: TTLs, caps, shared key names) and
#: then the batch as one JSON array, one `_encode` list per change (its key names included).
#: Counters (per-minute counts, failure rates, runtime histograms, per-worker counts) are summed
#: per batch and written once per key at the end. Every key name comes from app.store.keys.
RECORD_LUA = Path(__file__).with_name("record_changes.lua").read_text(encoding="utf-8")

@dataclass
class StateChange:
    """One task entering one state, as any writer knows it. None means "not known here".

    Attributes:
        task_id: the Celery task id.
        state: one of `app.store.states.STATES`.
        timestamp: epoch seconds when the task entered `state` (decides ordering, see module
            docstring); also stored as the state's ``<state>_at`` field (sent_at, received_at,
            started_at, finished_at) unless `fields` sets it.
        name, queue, worker: task name, routing key, worker node name (``name@host``).
        args, kwargs: display text of the arguments, secrets already masked (JSON text or
            Celery's argsrepr/kwargsrepr); also what the args search indexes.
        args_json, kwargs_json: exact JSON for "retry with the same arguments" (≤ ARGS_JSON_MAX_BYTES).
        eta, expires: ISO 8601 text. retries: retries so far.
        parent_id, root_id, retry_of: links to other task ids.
        result, exception, traceback, reason: display text (result/exception already masked).
        runtime_s: seconds the run took (SUCCESS/FAILURE feed the runtime histogram).
        info: a short note for the timeline entry (e.g. the exception line).
        fields: any further hash fields (e.g. ``pid``, ``progress``).
    """

    task_id: str
    state: str
    timestamp: float
    name: str | None = None
    queue: str | None = None
    worker: str | None = None
    args: str | None = None
    kwargs: str | None = None
    args_json: str | None = None
    kwargs_json: str | None = None
    eta: str | None = None
    expires: str | None = None
    retries: int | None = None
    parent_id: str | None = None
    root_id: str | None = None
    retry_of: str | None = None
    result: str | None = None
    exception: str | None = None
    traceback: str | None = None
    reason: str | None = None
    runtime_s: float | None = None
    info: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    #: Which writer saw it: "signals" (the console's own publishers and workers) or "events" (the
    #: Celery-event ingester); the store keeps one record when both report the same step.
    source: str = "signals"

    _HASH_FIELDS = ("args", "kwargs", "args_json", "kwargs_json", "eta", "expires", "retries",
                    "parent_id", "root_id", "retry_of", "result", "exception", "traceback", "reason",
                    "runtime_s")

    def hash_fields(self) -> dict[str, Any]:
        """The hash fields this change sets (None values left out)."""
        out: dict[str, Any] = {}
        at_field = STATE_TIME_FIELD.get(self.state)
        if at_field:
            out[at_field] = self.timestamp
        for name in self._HASH_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.fields)
        return out


def kept_json(text: str | None) -> str | None:
    """The exact JSON kept for "retry with the same arguments", when ≤ ARGS_JSON_MAX_BYTES."""
    return text if text is not None and len(text.encode()) <= ARGS_JSON_MAX_BYTES else None


#: One mark per state for the occurrence bookkeeping of two writers (hash fields ``seen_s`` for the
#: signal adapter, ``seen_e`` for the event ingester): a string of marks, one per step recorded.
#: PROGRESS (and any other state) is marked "p": never taken for a duplicate.
WRITER_MARKS = MappingProxyType({"SENT": "s", "RECEIVED": "r", "STARTED": "t", "RETRY": "y", "SUCCESS": "u",
                                 "FAILURE": "f", "REVOKED": "v"})
SOURCES = MappingProxyType({"signals": "s", "events": "e"})

#: Timeline entries kept per task: PROGRESS updates past this many entries are not added (state
#: changes always are), so a task reporting progress often keeps a small hash.
TIMELINE_MAX = 100
#: Marker stored as ``args_json`` / ``kwargs_json`` when the exact JSON equals the display text
#: (nothing was masked): saves the second copy; `app.store.history` expands it on read. When both
#: do, one field ``exact`` = "=" stands for both (EXACT_FIELD).
SAME_AS_SHOWN = "="
EXACT_FIELD = "exact"


def timeline_entry(state: str, at: float, info: str | None = None) -> str:
    """One timeline entry as sent: ``<state>|<epoch s>|<info>``. The script stores a task's first
    entry so and later ones with the time relative to it (``SUCCESS|+0.5|``, to the microsecond);
    `app.store.history.timeline` parses both."""
    return f"{state}|{float(at)!r}|{info or ''}"


def _text(value: Any) -> str:
    """A hash value as Redis stores it (floats in repr's shortest exact form, as redis-py sends them)."""
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def _encode(task_id: str, state: str, fields: dict[str, Any], *, now: float,
            name: str | None = None, queue: str | None = None, worker: str | None = None,
            first_seen: bool = False, search_text: str | None = None, parent_id: str | None = None,
            info: str | None = None, timeline: list[dict] | None = None, source: str = "signals",
            fill: dict[str, Any] | None = None, search_if_new: bool = False) -> list:
    """One change as the list `RECORD_LUA` reads (keyword arguments as `HistoryWriter.write`;
    `first_seen` is accepted and unused: the script finds out itself); all values text."""
    mapping = {k: v for k, v in fields.items() if v is not None}
    for shown, exact in (("args", "args_json"), ("kwargs", "kwargs_json")):
        if exact in mapping and mapping[exact] == mapping.get(shown):
            mapping[exact] = SAME_AS_SHOWN
    if mapping.get("args_json") == SAME_AS_SHOWN and mapping.get("kwargs_json") == SAME_AS_SHOWN:
        del mapping["args_json"], mapping["kwargs_json"]
        mapping[EXACT_FIELD] = SAME_AS_SHOWN
    mapping.update(state=state, updated_at=now)
    for key, value in (("name", name), ("queue", queue), ("worker", worker)):
        if value:
            mapping[key] = value
    runtime_s = fields.get("runtime_s")
    timed = state in TIMED_STATES and runtime_s is not None and bool(name)
    tokens = words(search_text) if search_text else []
    entries = timeline or [{"state": state, "at": now, "info": info}]
    minute = _minute(now)
    exception = fields.get("exception") if state == "FAILURE" else None
    fp = exc_type = message = ""
    if exception:
        exc_type, detail = failure_groups.split_exception(str(exception))
        fp, message = failure_groups.fingerprint(name or "", exc_type, detail)
    flat: list[str] = []
    for k, v in mapping.items():
        flat += (k, _text(v))
    filled: list[str] = []
    for k, v in (fill or {}).items():
        if v is not None:
            filled += (k, _text(v))
    script_keys = [
        keys.task(task_id), keys.state_index(state), keys.name_index(name) if name else "",
        keys.counter(state, minute), keys.runtime_histogram(name) if timed else "",
        keys.worker_counts(worker) if worker and state in WORKER_COUNTED_STATES else "",
        keys.children(parent_id) if parent_id else "", keys.rate_counts(minute),
        keys.failure_group(fp) if fp else "", keys.failure_group_ids(fp) if fp else ""]
    script_keys += [keys.word_index(w) for w in tokens]
    return [task_id, state, repr(float(now)), SOURCES.get(source, "s"), name or "", queue or "", worker or "",
            bucket_for(float(runtime_s)) if timed else "", repr(float(runtime_s)) if timed else "0",
            fp, exc_type, message, flat, filled, "".join(WRITER_MARKS.get(e["state"], "p") for e in entries),
            int(search_if_new), [timeline_entry(e["state"], e["at"], e.get("info")) for e in entries],
            tokens, script_keys]


@lru_cache(maxsize=4)
def _minute_of(epoch_minute: int) -> str:
    return datetime.fromtimestamp(epoch_minute * 60, timezone.utc).strftime("%Y%m%d%H%M")


def _minute(now: float) -> str:
    """UTC ``YYYYmmddHHMM`` of an epoch time (the per-minute counter's name part)."""
    return _minute_of(int(now // 60))


def _merge(batch: list[tuple]) -> list[tuple]:
    """Fold the changes of one task in a batch into one write (a fast task's STARTED and SUCCESS
    become one script call). Within a task they apply in timestamp order (SENT first, equal times
    in arrival order): the newest state wins, later values win, the timeline keeps every step."""
    if len({item[0] for item in batch}) == len(batch):
        return batch  # one change per task (a publisher's SENTs): nothing to fold
    groups: dict[str, list[tuple]] = {}
    for item in batch:
        groups.setdefault(item[0], []).append(item)
    out: list[tuple] = []
    for task_id, items in groups.items():
        if len(items) > 1:
            items.sort(key=lambda it: (it[1] != "SENT", it[3]))
        fields: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        timeline: list[dict] = []
        fill: dict[str, Any] = {}
        for _, state, f, now, kwargs in items:
            timeline.append({"state": state, "at": now, "info": kwargs.get("info")})
            fields.update(f)
            fill.update(kwargs.get("fill") or {})
            for key, value in kwargs.items():
                if value is not None:
                    merged[key] = value
        merged["timeline"] = timeline
        if fill:
            merged["fill"] = fill
        searching = [it[4] for it in items if it[4].get("search_text")]
        merged["search_if_new"] = bool(searching) and all(k.get("search_if_new") for k in searching)
        _, state, _, now, _ = items[-1]
        out.append((task_id, state, fields, now, merged))
    return out


def _header(retention_s: int, max_tasks: int) -> list:
    """The script's leading arguments: TTLs, caps and the key names every change shares."""
    return [retention_s, max_tasks, keys.COUNTER_TTL_S, keys.state_index(""), TIMELINE_MAX, keys.TASKS_ALL,
            keys.TASK_NAMES, tokens.WORD_INDEX_MAX, keys.FAILURE_GROUPS, UNINDEXED_STATE]


def _send(script, changes: list[tuple], retention_s: int, max_tasks: int, client) -> None:
    """Write `changes` (``(task_id, state, fields, now, kwargs)``) with one call of `script` (the
    registered `RECORD_LUA`) on `client`: the batch travels as one JSON argument (redis-py packs a
    handful of arguments instead of ~70 per change; Redis decodes it with its built-in cjson).
    Key names are computed here from `app.store.keys` and passed inside it, so the store needs a
    standalone Redis (or one Cluster slot), as Celery's Redis transport does."""
    batch = json.dumps([_encode(task_id, state, fields, now=now, **kwargs)
                        for task_id, state, fields, now, kwargs in changes], ensure_ascii=False,
                       separators=(",", ":"))
    script(keys=[], args=[*_header(retention_s, max_tasks), batch], client=client)


def write_batch(client, changes: list[tuple], *, retention_s: int | None = None,
                max_tasks: int | None = None) -> None:
    """Write `changes` now with one script call on `client`: ``(task_id, state, fields, now, kwargs)``
    tuples, kwargs as `HistoryWriter.write` takes them; a task's changes are folded into one
    (`_merge`). For a writer that does its own batching (the Celery-event ingester, a bulk load).
    `retention_s` / `max_tasks` default to HISTORY_RETENTION_S / HISTORY_MAX_TASKS.

    Raises:
        redis.RedisError: Redis cannot be reached (nothing of the batch is written then: a script
        runs whole or not at all).
    """
    if not changes:
        return
    if retention_s is None or max_tasks is None:
        from config.settings import get_settings

        s = get_settings()
        retention_s = s.HISTORY_RETENTION_S if retention_s is None else retention_s
        max_tasks = s.HISTORY_MAX_TASKS if max_tasks is None else max_tasks
    _send(client.register_script(RECORD_LUA), _merge(changes), retention_s, max_tasks, client)


class _Sender:
    """A background thread that sends queued state changes in batches, so a task never waits for
    its history round trip. Order is kept (one queue per process). `stop` ends it after sending
    what was queued before. A SIGKILLed process loses what is still queued (normally the last few
    milliseconds)."""

    #: Changes per script call (a call of 200 changes keeps Redis busy a few milliseconds).
    MAX_BATCH = 200
    #: How long the sender lets changes gather before sending, so a fast task's STARTED and
    #: SUCCESS go out as one write.
    LINGER_S = 0.05

    def __init__(self, send: Callable[[list[tuple]], None]):
        self._send = send
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = 0
        self.done = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self.thread.start()

    def put(self, item: tuple) -> None:
        with self.done:
            self.pending += 1
        self.queue.put(item)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            if self.queue.qsize() < self.MAX_BATCH:  # no backlog: let a task's next change arrive
                time.sleep(self.LINGER_S)
            while len(batch) < self.MAX_BATCH:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                self._send(_merge(batch))
            except Exception as exc:  # noqa: BLE001 - history must never fail a task
                log.warning("task history write of %d change(s) failed: %s", len(batch), exc)
            with self.done:
                self.pending -= len(batch)
                self.done.notify_all()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued has been sent; False on timeout."""
        with self.done:
            return self.done.wait_for(lambda: self.pending <= 0, timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is queued, then end the thread (waits at most `timeout_s`)."""
        self.queue.put(None)
        self.thread.join(timeout_s)


class _ProcessSide:
    """What a `HistoryWriter` holds in one process: the pid, the Redis client (None when the
    factory gave none), the registered script and the sender thread (started on first use)."""

    __slots__ = ("pid", "client", "script", "sender")

    def __init__(self, client):
        self.pid = os.getpid()
        self.client = client
        self.script = client.register_script(RECORD_LUA) if client is not None else None
        self.sender: _Sender | None = None


def _after_fork_in_child(ref: weakref.ref) -> None:
    writer = ref()
    if writer is not None:
        writer._forget_process()


class HistoryWriter:
    """The history write path of one process: `record` / `write` queue a change for the sender
    thread (or write it at once with `sync`), `write_batch` writes a batch now, `flush` waits for
    what is queued, `close` flushes and ends the thread.

    Args:
        client_factory: returns a redis.Redis (decode_responses=True) or None (then nothing is
            written); called lazily, once per process (again in a forked child).
        retention_s: seconds a task's entries live after its last change.
        max_tasks: tasks kept in the all-tasks index at most (the oldest leave first).

    Thread-safe. Fork-safe: a child process builds its own client and sender on first use (an
    at-fork hook drops the parent's, and the pid is checked on each change as well).
    """

    def __init__(self, client_factory: Callable[[], Any], *, retention_s: int, max_tasks: int):
        self._client_factory = client_factory
        self.retention_s = retention_s
        self.max_tasks = max_tasks
        self._lock = threading.Lock()
        self._side: _ProcessSide | None = None
        os.register_at_fork(after_in_child=functools.partial(_after_fork_in_child, weakref.ref(self)))

    def _forget_process(self) -> None:
        """In a forked child: the parent's client, thread and lock are not this process's."""
        self._lock = threading.Lock()
        self._side = None

    def _process_side(self) -> _ProcessSide:
        side = self._side
        if side is not None and side.pid == os.getpid():
            return side
        with self._lock:
            side = self._side
            if side is None or side.pid != os.getpid():
                side = self._side = _ProcessSide(self._client_factory())
            return side

    def _sender(self, side: _ProcessSide) -> _Sender:
        with self._lock:
            if side.sender is None:
                script, client, retention_s, max_tasks = side.script, side.client, self.retention_s, self.max_tasks
                side.sender = _Sender(lambda changes: _send(script, changes, retention_s, max_tasks, client))
            return side.sender

    def client(self):
        """This process's history client (None when the factory gives none); for small side
        notes next to the history (`app.store.schedule_runs`)."""
        return self._process_side().client

    def record(self, change: StateChange, *, sync: bool = False) -> None:
        """Record one state change (queued for this process's sender; with `sync`, written now).

        Never raises for Redis errors (logged). Does nothing without a task id.
        """
        search = " ".join(t for t in (change.args, change.kwargs) if t) or None
        self.write(change.task_id, change.state, change.hash_fields(), now=change.timestamp, sync=sync,
                   name=change.name, queue=change.queue, worker=change.worker, search_text=search,
                   parent_id=change.parent_id, info=change.info, source=change.source)

    def write(self, task_id: str, state: str, fields: dict[str, Any], *, now: float | None = None,
              sync: bool = False, **kwargs: Any) -> None:
        """Record one state change given as raw hash `fields` (`now` defaults to the current time,
        epoch s). `record` is the same with a `StateChange`.

        Keyword arguments: `name`, `queue`, `worker`; `search_text` (the words indexed for the args
        search); `parent_id`; `info` (the timeline entry's note); `source` ("signals" or
        "events", `SOURCES`); `fill` (fields set only where the hash has none yet, e.g. the
        arguments a worker saw when no publish record exists) with `search_if_new` (index the words
        only if the task had no args yet); `timeline` (entries ``{state, at, info}`` replacing the
        single entry made from `state`, `now` and `info`). The id leaves the index of the state
        its hash held before.

        With `sync` the script runs now (one round trip); otherwise the change is queued for this
        process's sender thread, keeping the order of changes made in the process. Never raises
        for Redis errors (logged).
        """
        if not task_id:
            return
        now = time.time() if now is None else now
        try:
            side = self._side
            if side is None or side.pid != os.getpid():
                side = self._process_side()
            if side.client is None:
                return
            if sync:
                _send(side.script, [(task_id, state, fields, now, kwargs)], self.retention_s, self.max_tasks,
                      side.client)
                return
            (side.sender or self._sender(side)).put((task_id, state, fields, now, kwargs))
        except Exception as exc:  # noqa: BLE001 - history must never fail a task
            log.warning("task history write failed for %s (%s): %s", task_id, state, exc)

    def write_batch(self, changes: list[tuple], client=None) -> None:
        """Write `changes` now with one script call (see the module function `write_batch`), on
        `client` or this process's client.

        Raises:
            redis.RedisError: Redis cannot be reached.
        """
        if changes:
            side = self._process_side()
            client = client if client is not None else side.client
            script = side.script if client is side.client else client.register_script(RECORD_LUA)
            _send(script, _merge(changes), self.retention_s, self.max_tasks, client)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until what this process queued has been sent; True when nothing is left, False on
        timeout."""
        side = self._side
        if side is None or side.pid != os.getpid() or side.sender is None:
            return True
        return side.sender.flush(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what this process queued (waits at most `timeout_s`), end the sender thread and
        close the client. The writer may be used again afterwards (it starts afresh)."""
        with self._lock:
            side, self._side = self._side, None
        if side is None or side.pid != os.getpid():
            return
        if side.sender is not None:
            side.sender.stop(timeout_s)
        if side.client is not None:
            try:
                side.client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass



def annotate(client, task_id: str, **fields: str) -> None:
    """Set extra fields on a task's hash at once (e.g. ``revoke_requested``, ``retried_as``), without
    a state change. Raises redis.RedisError when Redis cannot be reached."""
    client.hset(keys.task(task_id), mapping=fields)

