"""Task history writer: Celery signal handlers that keep the index in `app.monitor.keys`.

Each state change is one server-side script call (EVALSHA, `_RECORD_LUA`): update the task hash,
append to its timeline, move the id between state indexes, add it to the name/queue/worker/word
indexes, bump the per-minute counter and (on finish) the runtime histogram and the worker's
counters, and refresh TTLs. Calls are queued to a background thread per process (`_Writer`) that
sends them in pipelined batches after a 50 ms linger, folding a fast task's changes into one call;
a late publisher write never moves a task back to SENT.
The handlers run in the publisher (console, beat) and in the workers, so the history is durable
across restarts of either. A Redis error here is logged and swallowed: history must never make a
task fail.

Hash fields of ``cc:task:<id>``: id, name, state, queue, worker, args, kwargs (redacted JSON text
for display), args_json / kwargs_json (exact JSON for "retry with the same arguments", only when
under ARGS_JSON_MAX_BYTES), eta, expires, retries, parent_id, root_id, retry_of, sent_at,
received_at, started_at, finished_at, updated_at (epoch seconds), runtime_s, result, exception,
traceback, progress (JSON), reason, pid.
"""
from __future__ import annotations

import atexit
import bisect
import json
import logging
import os
import queue
import re
import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from celery import signals

from app.monitor import keys
from app.telemetry.redaction import to_text

log = logging.getLogger(__name__)

SENT_AT_HEADER = "cc_sent_at"
RETRY_OF_HEADER = "cc_retry_of"
ARGS_JSON_MAX_BYTES = 64 * 1024
#: Args-text search indexes words of 3-40 characters, at most MAX_WORDS per task.
MAX_WORDS = 24
_WORD_RE = re.compile(r"[\w.@-]{3,40}", re.UNICODE)
_started_monotonic: dict[str, float] = {}
#: Node name seen at RECEIVED, for pools whose task.request.hostname is a bare host name (threads, solo).
_received_by: dict[str, str] = {}
_config: dict[str, Any] = {"client": None, "retention_s": 7 * 86_400, "max_tasks": 1_000_000}


def configure(client_factory, retention_s: int, max_tasks: int) -> None:
    """Set where history goes: `client_factory()` returns a redis.Redis (called lazily, per process)."""
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


def words(text: str) -> list[str]:
    """Lower-case search tokens of `text` (see MAX_WORDS), in first-seen order."""
    out = dict.fromkeys(w.lower().strip(".-") for w in _WORD_RE.findall(text or ""))
    return [w for w in out if len(w) >= 3][:MAX_WORDS]


def bucket_for(runtime_s: float) -> str:
    """The histogram bucket (upper bound, as text) a runtime falls into."""
    i = bisect.bisect_left(keys.RUNTIME_BUCKETS_S, runtime_s)
    return str(keys.RUNTIME_BUCKETS_S[min(i, len(keys.RUNTIME_BUCKETS_S) - 1)])


#: One state change, server side (one EVALSHA instead of ~25 pipelined commands). Keys and
#: arguments are laid out by `add_commands`; every key name comes from app.monitor.keys.
_RECORD_LUA = """
local id, state, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local max_tasks, first_seen, cttl = tonumber(ARGV[5]), ARGV[6] == '1', tonumber(ARGV[7])
local state_prefix, name, bucket, runtime = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local n_tl, n_words, nfields = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local prev = redis.call('HGET', KEYS[1], 'state')
local abase = 15 + 2 * nfields
if state == 'SENT' and prev and prev ~= 'SENT' then
  -- the publisher's write arrived after the worker's: keep the later state, add the SENT fields
  for i = 15, 14 + 2 * nfields, 2 do
    if ARGV[i] ~= 'state' and ARGV[i] ~= 'updated_at' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  end
  redis.call('LPUSH', KEYS[2], ARGV[abase])
else
  if prev and prev ~= state then redis.call('ZREM', state_prefix .. prev, id) end
  redis.call('HSET', KEYS[1], unpack(ARGV, 15, 14 + 2 * nfields))
  redis.call('RPUSH', KEYS[2], unpack(ARGV, abase, abase + n_tl - 1))
  redis.call('ZADD', KEYS[4], now, id)
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], 'NX', now, id)
if KEYS[5] ~= '' then
  redis.call('ZADD', KEYS[5], 'NX', now, id)
  redis.call('SADD', KEYS[8], name)
end
if KEYS[6] ~= '' then redis.call('ZADD', KEYS[6], 'NX', now, id) end
if KEYS[7] ~= '' then redis.call('ZADD', KEYS[7], 'NX', now, id) end
local wbase = abase + n_tl
for j = 0, n_words - 1 do
  redis.call('ZADD', KEYS[14 + j], 'NX', now, id)
  redis.call('ZADD', KEYS[13], now, ARGV[wbase + j])
end
if KEYS[12] ~= '' then
  redis.call('SADD', KEYS[12], id)
  redis.call('EXPIRE', KEYS[12], ttl)
end
redis.call('INCR', KEYS[9])
redis.call('EXPIRE', KEYS[9], cttl)
if KEYS[10] ~= '' then
  redis.call('HINCRBY', KEYS[10], bucket, 1)
  redis.call('HINCRBYFLOAT', KEYS[10], 'sum', runtime)
end
if KEYS[11] ~= '' then redis.call('HINCRBY', KEYS[11], state, 1) end
if first_seen then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(max_tasks + 1)) end
return 1
"""
_scripts: dict[int, Any] = {}
_FINAL_COUNTED = ("SUCCESS", "FAILURE", "RETRY", "REVOKED")


def _record_script(client):
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_RECORD_LUA)
    return script


def add_commands(pipe, task_id: str, state: str, fields: dict[str, Any], *, now: float,
                 name: str | None = None, queue: str | None = None, worker: str | None = None,
                 first_seen: bool = False, search_text: str | None = None,
                 parent_id: str | None = None, info: str | None = None, client=None,
                 timeline: list[dict] | None = None) -> None:
    """Queue on `pipe` one state change (see module docstring) as a single script call.

    The id leaves the index of the state its hash held before. `timeline` (entries ``{state, at,
    info}``) replaces the single entry made from `state`, `now` and `info` when several changes of
    one task are written together. `client` is the redis.Redis the pipeline came from (defaults to
    the configured one).
    """
    mapping = {k: v for k, v in fields.items() if v is not None}
    mapping.update(id=task_id, state=state, updated_at=now)
    for key, value in (("name", name), ("queue", queue), ("worker", worker)):
        if value:
            mapping[key] = value
    runtime_s = fields.get("runtime_s")
    timed = state in ("SUCCESS", "FAILURE") and runtime_s is not None and bool(name)
    tokens = words(search_text) if search_text else []
    entries = timeline or [{"state": state, "at": now, "info": info}]
    minute = _minute(now)
    script_keys = [
        keys.task(task_id), keys.timeline(task_id), keys.TASKS_ALL, keys.state_index(state),
        keys.name_index(name) if name else "", keys.queue_index(queue) if queue else "",
        keys.worker_index(worker) if worker else "", keys.TASK_NAMES, keys.counter(state, minute),
        keys.runtime_histogram(name) if timed else "",
        keys.worker_counts(worker) if worker and state in _FINAL_COUNTED else "",
        keys.children(parent_id) if parent_id else "", keys.WORDS,
        *(keys.word_index(w) for w in tokens)]
    flat = [item for pair in mapping.items() for item in pair]
    args = [task_id, state, now, _config["retention_s"], _config["max_tasks"], int(first_seen),
            keys.COUNTER_TTL_S, keys.state_index(""), name or "", bucket_for(float(runtime_s)) if timed else "",
            float(runtime_s) if timed else 0, len(entries), len(tokens), len(mapping), *flat,
            *(json.dumps(e, ensure_ascii=False) for e in entries), *tokens]
    _record_script(client if client is not None else _client())(keys=script_keys, args=args, client=pipe)


@lru_cache(maxsize=4)
def _minute_of(epoch_minute: int) -> str:
    return datetime.fromtimestamp(epoch_minute * 60, timezone.utc).strftime("%Y%m%d%H%M")


def _minute(now: float) -> str:
    """UTC ``YYYYmmddHHMM`` of an epoch time (the per-minute counter's name part)."""
    return _minute_of(int(now // 60))


def _merge(batch: list[tuple]) -> list[tuple]:
    """Fold consecutive changes of the same task in a batch into one write (a fast task's
    STARTED and SUCCESS become one script call); later values win, the timeline keeps every step."""
    out: list[tuple] = []
    index: dict[str, int] = {}
    for task_id, state, fields, now, kwargs in batch:
        entry = {"state": state, "at": now, "info": kwargs.get("info")}
        if task_id in index:
            _, _, f0, _, k0 = out[index[task_id]]
            merged_kwargs = dict(k0)
            for key, value in kwargs.items():
                if key == "first_seen":
                    merged_kwargs[key] = bool(k0.get(key)) or bool(value)
                elif value is not None and key != "timeline":
                    merged_kwargs[key] = value
            merged_kwargs["timeline"] = k0["timeline"] + [entry]
            out[index[task_id]] = (task_id, state, {**f0, **fields}, now, merged_kwargs)
        else:
            index[task_id] = len(out)
            out.append((task_id, state, dict(fields), now, {**kwargs, "timeline": [entry]}))
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


def record(task_id: str, state: str, fields: dict[str, Any], *, sync: bool = False, **kwargs: Any) -> None:
    """Record one state change of `task_id` (arguments as `add_commands`).

    With `sync` the script runs now (one round trip); otherwise the change is queued for this
    process's background writer, keeping the order of changes made in the process.
    """
    if not task_id:
        return
    now = time.time()
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


def record_progress(task_id: str, meta: dict[str, Any]) -> None:
    """Record a PROGRESS update (meta as given to `update_state`)."""
    record(task_id, "PROGRESS", {"progress": to_text(meta, 1_000)},
           info=str(meta.get("message") or "")[:200] or None)


def _dumps(value: Any) -> str | None:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return None


def _kept(text: str | None) -> str | None:
    """The exact JSON kept for "retry with the same arguments", when small enough."""
    return text if text is not None and len(text.encode()) <= ARGS_JSON_MAX_BYTES else None


def _worker_of(request) -> str | None:
    """The worker's node name (``name@host``); None when only a bare host name is known (some pools
    set request.hostname to it), so the node name recorded at RECEIVED is kept."""
    hostname = getattr(request, "hostname", None)
    return hostname if hostname and "@" in hostname else None


@signals.before_task_publish.connect
def _on_publish(sender=None, body=None, exchange=None, routing_key=None, headers=None, **_):
    headers = headers if headers is not None else {}
    now = time.time()
    headers.setdefault(SENT_AT_HEADER, now)
    task_id = headers.get("id")
    retries = int(headers.get("retries") or 0)
    if retries:
        return  # a retry re-publish: task_retry records it
    args, kwargs = (body[0], body[1]) if isinstance(body, (list, tuple)) and len(body) >= 2 else ((), {})
    exact_args, exact_kwargs = _dumps(list(args)), _dumps(dict(kwargs))
    shown_args = to_text(list(args), exact=exact_args)
    shown_kwargs = to_text(dict(kwargs), exact=exact_kwargs)
    record(task_id, "SENT", {
        "sent_at": now, "args": shown_args, "kwargs": shown_kwargs,
        "args_json": _kept(exact_args), "kwargs_json": _kept(exact_kwargs),
        "eta": headers.get("eta"), "expires": headers.get("expires"),
        "parent_id": headers.get("parent_id"), "root_id": headers.get("root_id"),
        "retry_of": headers.get(RETRY_OF_HEADER), "retries": retries,
    }, name=headers.get("task") or sender, queue=routing_key or None, first_seen=True,
        search_text=f"{shown_args} {shown_kwargs}",  # ids are found by exact lookup, not indexed
        parent_id=headers.get("parent_id"))


@signals.task_received.connect
def _on_received(sender=None, request=None, **_):
    if request is None:
        return
    info = request.delivery_info or {}
    eta = request.eta.isoformat() if hasattr(request.eta, "isoformat") else request.eta
    if _worker_of(request) and len(_received_by) < 100_000:
        _received_by[request.id] = request.hostname
    task = getattr(request, "task", None)
    if not (eta or getattr(task, "rate_limit", None)):
        return  # starts at once: STARTED follows in ms, so spare the consumer loop a round trip
    record(request.id, "RECEIVED", {"received_at": time.time(), "eta": eta},
           name=request.name, queue=info.get("routing_key"), worker=_worker_of(request), first_seen=True,
           sync=True)


@signals.task_prerun.connect
def _on_prerun(task_id=None, task=None, args=None, kwargs=None, **_):
    _started_monotonic[task_id] = time.monotonic()
    req = task.request
    info = req.delivery_info or {}
    record(task_id, "STARTED", {"started_at": time.time(), "retries": req.retries, "pid": os.getpid()},
           name=task.name, queue=info.get("routing_key"), worker=_worker_of(req) or _received_by.get(task_id),
           first_seen=True,
           info=req.hostname)


@signals.task_postrun.connect
def _on_postrun(task_id=None, task=None, retval=None, state=None, **_):
    started = _started_monotonic.pop(task_id, None)
    runtime_s = round(time.monotonic() - started, 6) if started is not None else None
    worker = _worker_of(task.request) or _received_by.get(task_id)
    _received_by.pop(task_id, None)
    if state == "SUCCESS":
        record(task_id, "SUCCESS", {"finished_at": time.time(), "runtime_s": runtime_s,
                                    "result": to_text(retval, 8_000, exact=_dumps(retval))}, name=task.name, worker=worker)
    elif state == "FAILURE":
        record(task_id, "FAILURE", {"finished_at": time.time(), "runtime_s": runtime_s},
               name=task.name, worker=worker)


@signals.task_failure.connect
def _on_failure(task_id=None, exception=None, einfo=None, sender=None, **_):
    message = f"{type(exception).__name__}: {exception}"[:2_000]
    record(task_id, "FAILURE", {
        "finished_at": time.time(), "exception": message,
        "traceback": str(einfo)[-8_000:] if einfo else None,
    }, name=getattr(sender, "name", None), info=message[:200])


@signals.task_retry.connect
def _on_retry(request=None, reason=None, einfo=None, **_):
    if request is None:
        return
    record(request.id, "RETRY", {"reason": str(reason)[:2_000], "retries": (request.retries or 0) + 1,
                                 "traceback": str(einfo)[-8_000:] if einfo else None},
           worker=_worker_of(request), info=str(reason)[:200])


@signals.task_revoked.connect
def _on_revoked(request=None, terminated=None, signum=None, expired=None, **_):
    if request is None:
        return
    why = "expired" if expired else ("terminated" if terminated else "revoked")
    record(request.id, "REVOKED", {"finished_at": time.time(), "reason": why},
           name=getattr(request, "name", None) or getattr(request, "task", None),
           worker=_worker_of(request), info=why)


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _on_shutdown(**_):
    flush()


atexit.register(flush)
