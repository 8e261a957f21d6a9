"""The history write path: record a task's state change into the Redis layout of `app.store.keys`.

The interface for any writer (the Celery-signal adapter `app.telemetry.recorder`, a Celery-events
ingester, a test) is::

    from app.store import writer
    writer.configure(client_factory, retention_s=..., max_tasks=...)   # once per process
    writer.record(StateChange(task_id, "STARTED", timestamp=1733090000.0, name=..., worker=...))
    writer.flush()                                                      # before reading it back

Each change is one server-side script call (EVALSHA of `_RECORD_LUA`): update the task hash, append
to its timeline, move the id between state indexes, add it to the name/queue/worker/word indexes,
bump the per-minute counter and (on finish) the runtime histogram and the worker's counters, and
refresh TTLs. Calls are queued to a background thread per process (`_Writer`) that sends them in
pipelined batches after a 50 ms linger, folding a fast task's changes into one call.

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

Hash fields of ``cc:task:<id>``: id, name, state, queue, worker, args, kwargs (redacted JSON text
for display), args_json / kwargs_json (exact JSON for "retry with the same arguments", only when
under ARGS_JSON_MAX_BYTES), eta, expires, retries, parent_id, root_id, retry_of, sent_at,
received_at, started_at, finished_at, updated_at (epoch seconds), runtime_s, result, exception,
traceback, progress (JSON), reason, pid.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from app.store import keys
from app.store.histogram import bucket_for
from app.store.states import STATE_TIME_FIELD, TIMED_STATES, WORKER_COUNTED_STATES
from app.store.tokens import words

log = logging.getLogger(__name__)

#: Exact args/kwargs JSON above this size is not kept (the task then cannot be re-sent as is).
ARGS_JSON_MAX_BYTES = 64 * 1024
_config: dict[str, Any] = {"client": None, "retention_s": 7 * 86_400, "max_tasks": 1_000_000}


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


def record(change: StateChange, *, sync: bool = False) -> None:
    """Record one state change (queued to this process's writer; with `sync`, written now).

    Never raises for Redis errors (logged). Does nothing before `configure` or without a task id.
    """
    search = " ".join(t for t in (change.args, change.kwargs) if t) or None
    write(change.task_id, change.state, change.hash_fields(), now=change.timestamp, sync=sync,
          name=change.name, queue=change.queue, worker=change.worker, search_text=search,
          parent_id=change.parent_id, info=change.info, source=change.source)


def configure(client_factory, retention_s: int, max_tasks: int) -> None:
    """Set where history goes: `client_factory()` returns a redis.Redis (decode_responses=True),
    called lazily once per process; entries live `retention_s` seconds, at most `max_tasks`."""
    _config.update(client_factory=client_factory, client=None, pid=None,
                   retention_s=retention_s, max_tasks=max_tasks)


def _client():
    if _config.get("client") is None or _config.get("pid") != os.getpid():
        factory = _config.get("client_factory")
        if factory is None:
            return None
        _config["client"] = factory()
        _config["pid"] = os.getpid()
    return _config["client"]


def client():
    """This process's history client (None before `configure`); for the recorder's small side notes."""
    return _client()


def kept_json(text: str | None) -> str | None:
    """The exact JSON kept for "retry with the same arguments", when ≤ ARGS_JSON_MAX_BYTES."""
    return text if text is not None and len(text.encode()) <= ARGS_JSON_MAX_BYTES else None


#: One mark per state for the occurrence bookkeeping of two writers (hash fields ``seen_s`` for the
#: signal adapter, ``seen_e`` for the event ingester): a string of marks, one per step recorded.
#: PROGRESS (and any other state) is marked "p": never taken for a duplicate.
WRITER_MARKS = {"SENT": "s", "RECEIVED": "r", "STARTED": "t", "RETRY": "y", "SUCCESS": "u",
                "FAILURE": "f", "REVOKED": "v"}
SOURCES = {"signals": "s", "events": "e"}

#: One state change, server side (one EVALSHA instead of ~25 pipelined commands). Keys and
#: arguments are laid out by `add_commands`; every key name comes from app.store.keys.
_RECORD_LUA = """
local id, state, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local max_tasks, src, cttl = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local state_prefix, name, bucket, runtime = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local n_tl, n_words, nfields = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local fbase = 15 + 2 * nfields
local nfill = tonumber(ARGV[fbase])
local marks, words_if_new = ARGV[fbase + 2 * nfill + 1], ARGV[fbase + 2 * nfill + 2] == '1'
local abase = fbase + 2 * nfill + 3
local mine_f, theirs_f = 'seen_' .. src, 'seen_' .. (src == 's' and 'e' or 's')
local cur = redis.call('HMGET', KEYS[1], 'state', 'updated_at', mine_f, theirs_f, 'args')
local prev, prev_at = cur[1], tonumber(cur[2])
local mine, theirs, had_args = cur[3] or '', cur[4] or '', cur[5]
-- occurrences (one mark per state a writer saw, WRITER_MARKS): a step the other writer already
-- recorded as often is a duplicate; a state the same writer repeats at once updates that step
local keep, counted, seen0 = {}, false, mine
for i = 1, n_tl do
  local c = string.sub(marks, i, i)
  if c == 'p' then
    keep[#keep + 1] = ARGV[abase + i - 1]
    counted = true
  elseif src == 's' and string.sub(mine, -1) == c then
    -- the signal adapter recording a step again (task_failure, then postrun): counted once, where
    -- it was new (each Celery event is a step of its own, even when two arrive out of order)
    if i == 1 then counted = false end
  else
    mine = mine .. c
    local _, n_mine = string.gsub(mine, c, '')
    local _, n_theirs = string.gsub(theirs, c, '')
    counted = n_mine > n_theirs
    if counted then keep[#keep + 1] = ARGV[abase + i - 1] end
  end
end
if mine ~= seen0 then redis.call('HSET', KEYS[1], mine_f, mine) end
local stale = prev and (#keep == 0 or (state == 'SENT' and prev ~= 'SENT') or (prev_at and prev_at > tonumber(now)))
if stale then
  -- an older change (late publisher, second writer) or one already recorded: fill gaps, keep the
  -- newer state and values
  for i = 15, 14 + 2 * nfields, 2 do
    if ARGV[i] ~= 'state' and ARGV[i] ~= 'updated_at' then redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
  end
  if #keep > 0 then redis.call('LPUSH', KEYS[2], unpack(keep)) end
else
  if prev and prev ~= state then redis.call('ZREM', state_prefix .. prev, id) end
  redis.call('HSET', KEYS[1], unpack(ARGV, 15, 14 + 2 * nfields))
  if #keep > 0 then redis.call('RPUSH', KEYS[2], unpack(keep)) end
  redis.call('ZADD', KEYS[4], now, id)
end
for i = fbase + 1, fbase + 2 * nfill, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
local first_seen = redis.call('ZADD', KEYS[3], 'NX', now, id) == 1
if KEYS[5] ~= '' then
  redis.call('ZADD', KEYS[5], 'NX', now, id)
  redis.call('SADD', KEYS[8], name)
end
if KEYS[6] ~= '' then redis.call('ZADD', KEYS[6], 'NX', now, id) end
if KEYS[7] ~= '' then redis.call('ZADD', KEYS[7], 'NX', now, id) end
if not (words_if_new and had_args) then
  local wbase = abase + n_tl
  for j = 0, n_words - 1 do
    redis.call('ZADD', KEYS[14 + j], 'NX', now, id)
    redis.call('ZADD', KEYS[13], now, ARGV[wbase + j])
  end
end
if KEYS[12] ~= '' then
  redis.call('SADD', KEYS[12], id)
  redis.call('EXPIRE', KEYS[12], ttl)
end
if counted then
  redis.call('INCR', KEYS[9])
  redis.call('EXPIRE', KEYS[9], cttl)
  if KEYS[10] ~= '' then
    redis.call('HINCRBY', KEYS[10], bucket, 1)
    redis.call('HINCRBYFLOAT', KEYS[10], 'sum', runtime)
  end
  if KEYS[11] ~= '' then redis.call('HINCRBY', KEYS[11], state, 1) end
end
if first_seen then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(max_tasks + 1)) end
return 1
"""
_scripts: dict[int, Any] = {}


def _record_script(client):
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_RECORD_LUA)
    return script


def add_commands(pipe, task_id: str, state: str, fields: dict[str, Any], *, now: float,
                 name: str | None = None, queue: str | None = None, worker: str | None = None,
                 first_seen: bool = False, search_text: str | None = None,
                 parent_id: str | None = None, info: str | None = None, client=None,
                 timeline: list[dict] | None = None, source: str = "signals",
                 fill: dict[str, Any] | None = None, search_if_new: bool = False) -> None:
    """Queue on `pipe` one state change (see module docstring) as a single script call.

    `source` names the writer ("signals" or "events", `SOURCES`). `fill` holds fields set only
    where the hash has none yet (e.g. the arguments a worker saw, when no publish record exists);
    with `search_if_new` the words of `search_text` are indexed only if the task had no args yet.

    `now` is the change's timestamp (epoch s). The id leaves the index of the state its hash held
    before. `timeline` (entries ``{state, at, info}``) replaces the single entry made from `state`,
    `now` and `info` when several changes of one task are written together. `client` is the
    redis.Redis the pipeline came from (defaults to the configured one). `first_seen` is accepted
    for callers of the older signature; the script finds out itself.
    """
    mapping = {k: v for k, v in fields.items() if v is not None}
    mapping.update(id=task_id, state=state, updated_at=now)
    for key, value in (("name", name), ("queue", queue), ("worker", worker)):
        if value:
            mapping[key] = value
    runtime_s = fields.get("runtime_s")
    timed = state in TIMED_STATES and runtime_s is not None and bool(name)
    tokens = words(search_text) if search_text else []
    entries = timeline or [{"state": state, "at": now, "info": info}]
    minute = _minute(now)
    script_keys = [
        keys.task(task_id), keys.timeline(task_id), keys.TASKS_ALL, keys.state_index(state),
        keys.name_index(name) if name else "", keys.queue_index(queue) if queue else "",
        keys.worker_index(worker) if worker else "", keys.TASK_NAMES, keys.counter(state, minute),
        keys.runtime_histogram(name) if timed else "",
        keys.worker_counts(worker) if worker and state in WORKER_COUNTED_STATES else "",
        keys.children(parent_id) if parent_id else "", keys.WORDS,
        *(keys.word_index(w) for w in tokens)]
    flat = [item for pair in mapping.items() for item in pair]
    filled = {k: v for k, v in (fill or {}).items() if v is not None}
    marks = "".join(WRITER_MARKS.get(e["state"], "p") for e in entries)
    args = [task_id, state, now, _config["retention_s"], _config["max_tasks"], SOURCES.get(source, "s"),
            keys.COUNTER_TTL_S, keys.state_index(""), name or "", bucket_for(float(runtime_s)) if timed else "",
            float(runtime_s) if timed else 0, len(entries), len(tokens), len(mapping), *flat,
            len(filled), *(item for pair in filled.items() for item in pair), marks, int(search_if_new),
            *(json.dumps(e, ensure_ascii=False) for e in entries), *tokens]
    _record_script(client if client is not None else _client())(keys=script_keys, args=args, client=pipe)


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


class _Writer:
    """A per-process background thread that sends queued state changes in pipelined batches, so a
    task never waits for its history round trip. Order is kept (one queue per process); `flush`
    runs at worker-process shutdown and at exit. A SIGKILLed process loses what is still queued
    (normally the last few milliseconds)."""

    MAX_BATCH = 500
    #: How long the writer lets changes gather before sending, so a fast task's STARTED and
    #: SUCCESS go out as one write.
    LINGER_S = 0.05

    def __init__(self, client):
        self.client = client
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
        while True:
            batch = [self.queue.get()]
            time.sleep(self.LINGER_S)
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                pipe = self.client.pipeline(transaction=False)
                for task_id, state, fields, now, kwargs in _merge(batch):
                    add_commands(pipe, task_id, state, fields, now=now, client=self.client, **kwargs)
                pipe.execute()
            except Exception as exc:  # noqa: BLE001 - history must never fail a task
                log.warning("task history write of %d change(s) failed: %s", len(batch), exc)
            with self.done:
                self.pending -= len(batch)
                self.done.notify_all()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued has been sent; False on timeout."""
        with self.done:
            return self.done.wait_for(lambda: self.pending <= 0, timeout_s)


def _writer():
    client = _client()
    if client is None:
        return None
    writer = _config.get("writer")
    if writer is None or _config.get("writer_pid") != os.getpid():
        writer = _config["writer"] = _Writer(client)
        _config["writer_pid"] = os.getpid()
    return writer


def flush(timeout_s: float = 5.0) -> bool:
    """Send what this process has queued (see `_Writer`); True when nothing is left."""
    writer = _config.get("writer")
    return True if writer is None or _config.get("writer_pid") != os.getpid() else writer.flush(timeout_s)


def write(task_id: str, state: str, fields: dict[str, Any], *, now: float | None = None,
          sync: bool = False, **kwargs: Any) -> None:
    """Record one state change given as raw hash `fields` (keyword arguments as `add_commands`;
    `now` defaults to the current time). `record` is the same with a `StateChange`.

    With `sync` the script runs now (one round trip); otherwise the change is queued for this
    process's background writer, keeping the order of changes made in the process. Never raises
    for Redis errors (logged).
    """
    if not task_id:
        return
    now = time.time() if now is None else now
    try:
        if sync:
            client = _client()
            if client is not None:
                add_commands(client, task_id, state, fields, now=now, client=client, **kwargs)
            return
        writer = _writer()
        if writer is not None:
            writer.put((task_id, state, fields, now, kwargs))
    except Exception as exc:  # noqa: BLE001 - history must never fail a task
        log.warning("task history write failed for %s (%s): %s", task_id, state, exc)


atexit.register(flush)


def annotate(client, task_id: str, **fields: str) -> None:
    """Set extra fields on a task's hash at once (e.g. ``revoke_requested``, ``retried_as``), without
    a state change. Raises redis.RedisError when Redis cannot be reached."""
    client.hset(keys.task(task_id), mapping=fields)
