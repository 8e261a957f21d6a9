"""The history write path: record a task's state change into the Redis layout of `app.store.keys`.

The interface for any writer (the Celery-signal adapter `app.telemetry.recorder`, a Celery-events
ingester, a test) is::

    from app.store import writer
    writer.configure(client_factory, retention_s=..., max_tasks=...)   # once per process
    writer.record(StateChange(task_id, "STARTED", timestamp=1733090000.0, name=..., worker=...))
    writer.flush()                                                      # before reading it back

Changes are queued to a background thread per process (`_Writer`) that sends them in batches after a
50 ms linger, folding a fast task's changes into one, and writes each batch with ONE server-side
script call (EVALSHA of `_RECORD_LUA`, the batch passed as one JSON argument): per change it updates
the task hash (its timeline entries are fields of the same hash), moves the id between state
indexes, adds it to the name and word indexes the first time the task has that name or
arguments, and refreshes the TTL when the task is new or finishes (the index changes are
gathered per key and sent as one ZADD / ZREM per key and batch: a batch holds each task once,
`_merge`); per batch it adds the
per-minute counters, failure-rate counters (``cc:rate:<minute>``), runtime histograms and per-worker
counts once per key, and updates the failure group of each failure (`app.store.failure_groups`).

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
timeline, `timeline_entry`), ``seen_s`` / ``seen_e`` (steps per writer), eta, expires, retries, parent_id, root_id, retry_of, sent_at,
received_at, started_at, finished_at, updated_at (epoch seconds), runtime_s, result, exception,
traceback, progress (JSON), reason, pid, priority (the broker's ``priority`` value as published).
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

from app.store import failure_groups, keys, tokens
from app.store.histogram import bucket_for
from app.store.states import STATE_TIME_FIELD, TIMED_STATES, UNINDEXED_STATE, WORKER_COUNTED_STATES
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

#: A batch of state changes, server side: one EVALSHA per batch (`_Writer` sends up to MAX_BATCH
#: changes at once). ARGV holds the header (`_header`: TTLs, caps, shared key names) and then the
#: batch as one JSON array, one `_encode` list per change (its key names included). Counters
#: (per-minute counts, failure rates, runtime histograms, per-worker counts) are summed per batch
#: and written once per key at the end. Every key name comes from app.store.keys.
_RECORD_LUA = """
local ttl, max_tasks, cttl, state_prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local tl_max = tonumber(ARGV[5])
local K_all, K_names, word_max, K_fgs = ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local unindexed, batch = ARGV[10], cjson.decode(ARGV[11])
local incr, hincr, hfloat, ttl_keys = {}, {}, {}, {}
-- index changes gathered per key and sent once per batch (a batch holds each task once, `_merge`)
local zrem, zadd, zaddnx, names, wordkeys = {}, {}, {}, {}, {}
local function bump(key, field, by)
  local t = hincr[key]
  if not t then t = {} hincr[key] = t end
  t[field] = (t[field] or 0) + by
end
local function push(tbl, key, a, b)
  local t = tbl[key]
  if not t then t = {} tbl[key] = t end
  t[#t + 1] = a
  if b then t[#t + 1] = b end
end
local any_new = false
for c = 1, #batch do
  local ch = batch[c]
  local id, state, now, src, name, queue, worker = ch[1], ch[2], ch[3], ch[4], ch[5], ch[6], ch[7]
  local bucket, runtime, fp, exc_type, fmsg = ch[8], ch[9], ch[10], ch[11], ch[12]
  local fields, fill, marks, words_if_new, tl, toks = ch[13], ch[14], ch[15], ch[16] == 1, ch[17], ch[18]
  local K = ch[19]
  local K_task, K_state, K_name = K[1], K[2], K[3]
  local K_count, K_hist, K_wc, K_children, K_rate, K_fg, K_fgids = K[4], K[5], K[6], K[7], K[8], K[9], K[10]
  local nfields, nfill, n_tl, n_words = #fields / 2, #fill / 2, #tl, #toks
  local mine_f, theirs_f = 'seen_' .. src, 'seen_' .. (src == 's' and 'e' or 's')
  local cur = redis.call('HMGET', K_task, 'state', 'updated_at', mine_f, theirs_f, 'args', 'name', 'queue', 'worker', 'tn', 't1')
  local prev, prev_at = cur[1], tonumber(cur[2])
  local mine, theirs, had_args = cur[3] or '', cur[4] or '', cur[5]
  local tn = tonumber(cur[9]) or 0
  -- occurrences (one mark per state a writer saw, WRITER_MARKS): a step the other writer already
  -- recorded as often is a duplicate; a state the same writer repeats at once updates that step
  local keep, counted, seen0 = {}, false, mine
  for i = 1, n_tl do
    local m = string.sub(marks, i, i)
    if m == 'p' then
      if tn + #keep < tl_max then keep[#keep + 1] = tl[i] end
      counted = true
    elseif src == 's' and string.sub(mine, -1) == m then
      -- the signal adapter recording a step again (task_failure, then postrun): counted once, where
      -- it was new (each Celery event is a step of its own, even when two arrive out of order)
      if i == 1 then counted = false end
    else
      mine = mine .. m
      local _, n_mine = string.gsub(mine, m, '')
      local _, n_theirs = string.gsub(theirs, m, '')
      counted = n_mine > n_theirs
      if counted then keep[#keep + 1] = tl[i] end
    end
  end
  local stale = prev and (#keep == 0 or (state == 'SENT' and prev ~= 'SENT') or (prev_at and prev_at > tonumber(now)))
  local extra = {}
  if mine ~= seen0 then extra[#extra + 1] = mine_f extra[#extra + 1] = mine end
  -- timeline entries after the first keep their time relative to it ("+0.5"): 10+ bytes less each
  local base = cur[10] and tonumber(string.match(cur[10], '^[^|]*|([^|]*)|'))
  for i = 1, #keep do
    tn = tn + 1
    local e = keep[i]
    if base then
      local st, at, info = string.match(e, '^([^|]*)|([^|]*)|(.*)$')
      local off = string.format('%.6f', tonumber(at) - base):gsub('0+$', ''):gsub('%.$', '')
      if string.sub(off, 1, 1) ~= '-' then off = '+' .. off end
      e = st .. '|' .. off .. '|' .. info
    else
      base = tonumber(string.match(e, '^[^|]*|([^|]*)|'))
    end
    extra[#extra + 1] = 't' .. tn
    extra[#extra + 1] = e
  end
  if #keep > 0 then extra[#extra + 1] = 'tn' extra[#extra + 1] = tn end
  if stale then
    -- an older change (late publisher, second writer) or one already recorded: fill gaps, keep the
    -- newer state and values
    -- (one HMGET of the change's fields, then one HSET of the missing ones and the extras: the
    -- same as HSETNX per field, in two calls; a late SENT is the common case of this path)
    local at, asked, set = {}, {}, {}
    for i = 1, 2 * nfields, 2 do
      if fields[i] ~= 'state' and fields[i] ~= 'updated_at' then at[#at + 1] = i asked[#asked + 1] = fields[i] end
    end
    if #asked > 0 then
      local have = redis.call('HMGET', K_task, unpack(asked))
      for j = 1, #at do
        if not have[j] then set[#set + 1] = fields[at[j]] set[#set + 1] = fields[at[j] + 1] end
      end
    end
    for i = 1, #extra do set[#set + 1] = extra[i] end
    if #set > 0 then redis.call('HSET', K_task, unpack(set)) end
  else
    if prev and prev ~= state and prev ~= unindexed then push(zrem, state_prefix .. prev, id) end
    for i = 1, #extra do fields[#fields + 1] = extra[i] end
    redis.call('HSET', K_task, unpack(fields))
    if state ~= unindexed then push(zadd, K_state, now, id) end
  end
  for i = 1, 2 * nfill, 2 do redis.call('HSETNX', K_task, fill[i], fill[i + 1]) end
  if not prev then
    redis.call('EXPIRE', K_task, ttl)
    push(zaddnx, K_all, now, id)
  elseif state == 'SUCCESS' or state == 'FAILURE' or state == 'REVOKED' then
    redis.call('EXPIRE', K_task, ttl)
  end
  if K_name ~= '' and cur[6] ~= name then
    push(zaddnx, K_name, now, id)
    names[name] = true
  end
  if n_words > 0 and not (words_if_new and had_args) then
    for j = 1, n_words do
      push(zaddnx, K[10 + j], now, id)
      wordkeys[K[10 + j]] = true
    end
  end
  if K_children ~= '' then
    redis.call('SADD', K_children, id)
    redis.call('EXPIRE', K_children, ttl)
  end
  if counted then
    incr[K_count] = (incr[K_count] or 0) + 1
    if K_hist ~= '' then
      bump(K_hist, bucket, 1)
      hfloat[K_hist] = (hfloat[K_hist] or 0) + tonumber(runtime)
    end
    if K_wc ~= '' then bump(K_wc, state, 1) end
    if state == 'SUCCESS' or state == 'FAILURE' then
      -- failure rates per task name and queue (alert rules): T = finished, F = failed
      local nm = name ~= '' and name or cur[6]
      local q = queue ~= '' and queue or cur[7]
      ttl_keys[K_rate] = true
      if nm then bump(K_rate, 'T|n|' .. nm, 1) end
      if q then bump(K_rate, 'T|q|' .. q, 1) end
      if state == 'FAILURE' then
        if nm then bump(K_rate, 'F|n|' .. nm, 1) end
        if q then bump(K_rate, 'F|q|' .. q, 1) end
        if K_fg ~= '' then
          -- the failure's group (app.store.failure_groups)
          redis.call('HINCRBY', K_fg, 'count', 1)
          redis.call('HSETNX', K_fg, 'first_at', now)
          redis.call('HSET', K_fg, 'last_at', now, 'last_id', id, 'name', nm or '', 'exc_type', exc_type, 'message', fmsg)
          if q then redis.call('HINCRBY', K_fg, 'q|' .. q, 1) end
          local w = worker ~= '' and worker or cur[8]
          if w then redis.call('HINCRBY', K_fg, 'w|' .. w, 1) end
          redis.call('EXPIRE', K_fg, ttl)
          redis.call('ZADD', K_fgids, now, id)
          redis.call('ZREMRANGEBYRANK', K_fgids, 0, -10001)
          redis.call('EXPIRE', K_fgids, ttl)
          redis.call('ZADD', K_fgs, now, fp)
        end
      end
    end
  end
end
-- members in chunks of 1,000 per command (Lua's unpack has a stack limit)
local function each_chunk(cmd, key, t, opt)
  local n = 0
  for i = 1, #t, 1000 do
    local last = math.min(#t, i + 999)
    if opt then n = n + redis.call(cmd, key, opt, unpack(t, i, last))
    else n = n + redis.call(cmd, key, unpack(t, i, last)) end
  end
  return n
end
for key, t in pairs(zrem) do each_chunk('ZREM', key, t) end
for key, t in pairs(zadd) do each_chunk('ZADD', key, t) end
for key, t in pairs(zaddnx) do
  local added = each_chunk('ZADD', key, t, 'NX')
  if key == K_all and added > 0 then any_new = true end
end
for name in pairs(names) do redis.call('SADD', K_names, name) end
-- each word's index keeps its newest WORD_INDEX_MAX ids and expires with the history
for wk in pairs(wordkeys) do
  if redis.call('ZCARD', wk) > word_max then redis.call('ZREMRANGEBYRANK', wk, 0, -(word_max + 1)) end
  redis.call('EXPIRE', wk, ttl)
end
for key, by in pairs(incr) do
  redis.call('INCRBY', key, by)
  redis.call('EXPIRE', key, cttl)
end
for key, t in pairs(hincr) do
  for f, by in pairs(t) do redis.call('HINCRBY', key, f, by) end
  if ttl_keys[key] then redis.call('EXPIRE', key, cttl) end
end
for key, by in pairs(hfloat) do redis.call('HINCRBYFLOAT', key, 'sum', by) end
if any_new then redis.call('ZREMRANGEBYRANK', K_all, 0, -(max_tasks + 1)) end
return #batch
"""
_scripts: dict[int, Any] = {}
#: Timeline entries kept per task: PROGRESS updates past this many entries are not added (state
#: changes always are), so a task reporting progress often keeps a small hash.
TIMELINE_MAX = 100
#: Marker stored as ``args_json`` / ``kwargs_json`` when the exact JSON equals the display text
#: (nothing was masked): saves the second copy; `app.store.history` expands it on read. When both
#: do, one field ``exact`` = "=" stands for both (EXACT_FIELD).
SAME_AS_SHOWN = "="
EXACT_FIELD = "exact"


def _record_script(client):
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_RECORD_LUA)
    return script


def timeline_entry(state: str, at: float, info: str | None = None) -> str:
    """One timeline entry as sent: ``<state>|<epoch s>|<info>``. The script stores a task's first
    entry so and later ones with the time relative to it (``SUCCESS|+0.5|``, to the microsecond);
    `app.store.history.timeline` parses both."""
    return f"{state}|{float(at)!r}|{info or ''}"


def _header() -> list:
    return [_config["retention_s"], _config["max_tasks"], keys.COUNTER_TTL_S, keys.state_index(""),
            TIMELINE_MAX, keys.TASKS_ALL, keys.TASK_NAMES, tokens.WORD_INDEX_MAX, keys.FAILURE_GROUPS,
            UNINDEXED_STATE]


def _text(value: Any) -> str:
    """A hash value as Redis stores it (floats in repr's shortest exact form, as redis-py sends them)."""
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def _encode(task_id: str, state: str, fields: dict[str, Any], *, now: float,
            name: str | None = None, queue: str | None = None, worker: str | None = None,
            first_seen: bool = False, search_text: str | None = None, parent_id: str | None = None,
            info: str | None = None, timeline: list[dict] | None = None, source: str = "signals",
            fill: dict[str, Any] | None = None, search_if_new: bool = False) -> list:
    """One change as the list `_RECORD_LUA` reads (arguments as `add_commands`); all values text."""
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


def _send(client, changes: list[tuple], via=None) -> None:
    """Write `changes` (``(task_id, state, fields, now, kwargs)``) with one script call on `client`
    (or queued on pipeline `via`): the batch travels as one JSON argument (redis-py packs a
    handful of arguments instead of ~70 per change; Redis decodes it with its built-in cjson).
    Key names are computed here from `app.store.keys` and passed inside it, so the store needs a
    standalone Redis (or one Cluster slot), as Celery's Redis transport does."""
    batch = json.dumps([_encode(task_id, state, fields, now=now, **kwargs)
                        for task_id, state, fields, now, kwargs in changes], ensure_ascii=False,
                       separators=(",", ":"))
    _record_script(client)(keys=[], args=[*_header(), batch], client=via if via is not None else client)


def write_batch(client, changes: list[tuple]) -> None:
    """Write `changes` now with one script call: ``(task_id, state, fields, now, kwargs)`` tuples,
    kwargs as `add_commands` takes them; a task's changes are folded into one (`_merge`). For a
    writer that does its own batching (the Celery-event ingester, a bulk load).

    Raises:
        redis.RedisError: Redis cannot be reached (nothing of the batch is written then: a script
        runs whole or not at all).
    """
    if changes:
        _send(client, _merge(changes))


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
    kwargs = dict(name=name, queue=queue, worker=worker, search_text=search_text, parent_id=parent_id,
                  info=info, timeline=timeline, source=source, fill=fill, search_if_new=search_if_new)
    _send(client if client is not None else _client(), [(task_id, state, fields, now, kwargs)], via=pipe)


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


class _Writer:
    """A per-process background thread that sends queued state changes in pipelined batches, so a
    task never waits for its history round trip. Order is kept (one queue per process); `flush`
    runs at worker-process shutdown and at exit. A SIGKILLed process loses what is still queued
    (normally the last few milliseconds)."""

    #: Changes per script call (a call of 200 changes keeps Redis busy a few milliseconds).
    MAX_BATCH = 200
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
            if self.queue.qsize() < self.MAX_BATCH:  # no backlog: let a task's next change arrive
                time.sleep(self.LINGER_S)
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                _send(self.client, _merge(batch))
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
                _send(client, [(task_id, state, fields, now, kwargs)])
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
