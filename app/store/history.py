"""The history read path: pages, counts, task detail, timelines, children, runtimes, trim.

Reads the layout of `app.store.keys` written by `app.store.writer`; every function takes a
redis.Redis (decode_responses=True) and raises redis.RedisError when Redis cannot be reached.

A page is a server-side walk (one Lua call) of the narrowest index that matches the filter, checking
the other filters' indexes with ZSCORE, which also reads the listed tasks' hashes and first-seen
times in the same call, so its cost grows with log(N) + page size (and the filter's selectivity,
capped by `max_scan`), never with the number of stored tasks.
"""
from __future__ import annotations

from pathlib import Path
import json
import time
from dataclasses import dataclass
from typing import Any

from collections.abc import Iterator

from app.store import keys, tokens
from app.store.histogram import quantiles_of
from app.store.states import ACTIVE_STATES, STATES, UNINDEXED_STATE
from app.store.tokens import words

SUMMARY_FIELDS = ("id", "name", "state", "queue", "worker", "sent_at", "received_at", "started_at",
                  "finished_at", "updated_at", "runtime_s", "result", "exception", "retries", "progress",
                  "args", "kwargs", "eta", "parent_id", "root_id", "reason", "traceback")
FLOAT_FIELDS = ("sent_at", "received_at", "started_at", "finished_at", "updated_at", "runtime_s")


@dataclass(frozen=True)
class TaskFilter:
    """Filter for `list_tasks`; None means "any". Times are epoch seconds (first-seen time).

    `search` is a task id (exact) or words found in the task's args/kwargs (all must match).
    `app` is a monitored app's name (`app.monitor.apps`; "console" matches the tasks with no
    ``app`` field, the console's own).
    """

    state: str | None = None
    name: str | None = None
    queue: str | None = None
    worker: str | None = None
    since: float | None = None
    until: float | None = None
    search: str | None = None
    app: str | None = None

    def candidate_indexes(self) -> list[tuple[str, str | None, str | None]]:
        """(index key, hash field to check, expected value) for every filter that has an index."""
        out = []
        for field_name, value, key_of in (("state", self.state if self.state != UNINDEXED_STATE else None,
                                           keys.state_index),
                                          ("name", self.name, keys.name_index)):
            if value:
                out.append((key_of(value), field_name, value))
        for token in self.tokens():
            out.append((keys.word_index(token), None, token))
        return out

    def field_checks(self) -> list[str]:
        """Flat (hash field, value) pairs checked on each walked task: the filters without an index
        (the queue: few queues, so a walk finds its tasks fast; the worker: node names are unique
        per start (``<group>.<start id>@host``), so a worker's tasks are the few concurrent
        workers' share of one stretch of time; `UNINDEXED_STATE`)."""
        out: list[str] = []
        if self.queue:
            out += ("queue", self.queue)
        if self.worker:
            out += ("worker", self.worker)
        if self.state == UNINDEXED_STATE:
            out += ("state", self.state)
        if self.app:
            out += ("app", "" if self.app == "console" else self.app)
        return out

    def tokens(self) -> list[str]:
        """The search words (`app.store.tokens.words` of `search`)."""
        return words(self.search or "")


def _decode(raw: dict[str, str], task_id: str) -> dict[str, Any]:
    """A stored hash as the views see it: ``id`` added, floats parsed, progress JSON parsed, the
    timeline fields (``t<n>``, ``tn``) left out and ``*_json`` markers expanded (`expand_json`)."""
    task: dict[str, Any] = {k: v for k, v in raw.items() if not _is_timeline_field(k)}
    task["id"] = task_id
    expand_json(task)
    for f in FLOAT_FIELDS:
        if task.get(f):
            try:
                task[f] = float(task[f])
            except ValueError:
                task[f] = None
    if task.get("progress"):
        try:
            task["progress"] = json.loads(task["progress"])
        except ValueError:
            pass
    return task


def _is_timeline_field(name: str) -> bool:
    return name[:1] == "t" and (name == "tn" or name[1:].isdigit())


def expand_json(task: dict[str, Any]) -> dict[str, Any]:
    """Replace the writer's ``args_json`` / ``kwargs_json`` marker "=" (exact JSON equal to the
    shown text, `app.store.writer.SAME_AS_SHOWN`), and its ``exact`` field standing for both, by that
    text, in place; returns `task`."""
    if task.pop("exact", None) == "=":
        task.setdefault("args_json", "=")
        task.setdefault("kwargs_json", "=")
    for shown, exact in (("args", "args_json"), ("kwargs", "kwargs_json")):
        if task.get(exact) == "=":
            task[exact] = task.get(shown)
    return task


def get_task(client, task_id: str) -> dict[str, Any] | None:
    """One task's history hash (decoded), or None if unknown or past retention."""
    raw = client.hgetall(keys.task(task_id))
    return _decode(raw, task_id) if raw else None


#: Walks the first index newest-first between two scores and keeps the ids present in every other
#: index (ZSCORE), up to `limit` after `offset`, scanning at most `max_scan` ids, and answers
#: ``[id, first-seen score (ARGV[10]'s ZSCORE) or nil, flat HGETALL]`` per listed task whose hash
#: still exists, plus its children (SMEMBERS of ARGV[11] .. id) when ARGV[11] is not empty: one round
#: trip for the whole page.
#: ARGV[9] is the number of (hash field, value) pairs that follow ARGV[11], each checked on the task's hash
#: (`TaskFilter.field_checks`). Search words come after them as pairs (word index key, word): an id missing from a word's index
#: still matches when that index is full (it keeps only its newest `app.store.tokens.WORD_INDEX_MAX`
#: ids) and the task's argument text contains the word.
_PAGE_LUA = Path(__file__).with_name("history_page.lua").read_text(encoding="utf-8")


def _plan(client, flt: TaskFilter) -> list[str]:
    """The index to walk, then the indexes to check membership in: the walked one is the smallest,
    except that with a time range it must be scored by first-seen time (state indexes are scored by
    entry time). Word indexes are only walked (their words are checked on the task's text)."""
    cands = [key for key, _, _ in flt.candidate_indexes()]
    if not cands:
        return [keys.TASKS_ALL]
    pipe = client.pipeline(transaction=False)
    for key in cands:
        pipe.zcard(key)
    sizes = dict(zip(cands, pipe.execute()))
    ranged = flt.since is not None or flt.until is not None
    walkable = [k for k in cands if not (ranged and k.startswith(keys.state_index("")))]
    if not walkable:
        walkable = [keys.TASKS_ALL]
        sizes[keys.TASKS_ALL] = 0
    walk = min(walkable, key=lambda k: sizes[k])
    word = keys.word_index("")
    return [walk] + [k for k in cands if k != walk and not k.startswith(word)]


def list_tasks(client, flt: TaskFilter | None = None, limit: int = 50, offset: int = 0,
               max_scan: int = 20_000) -> list[dict[str, Any]]:
    """Newest-first page of tasks matching `flt`.

    Cost: one pipelined ZCARD per indexed filter (none without one), then one server-side walk
    (Lua) of the smallest matching index checking membership of the others with ZSCORE and search
    words in the task's argument text (at most `max_scan` ids), which also reads the page's hashes:
    two round trips at most (one without filters). A word found in more than
    `app.store.tokens.WORD_INDEX_MAX` tasks is searched among its newest that many. The cost grows
    with log(N) + offset + page size and the filter's selectivity, not with the number of stored
    tasks. A search that is a known task id returns just that task.

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    return [task for task, _, _ in _scored_page(client, flt or TaskFilter(), limit, offset, max_scan)]


def list_tasks_and_children(client, flt: TaskFilter | None = None, limit: int = 50,
                            offset: int = 0) -> list[tuple[dict[str, Any], set[str]]]:
    """`list_tasks`'s page, each task with the ids of its children (`children`), read in the same
    script call: the same round trips as `list_tasks`.

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    return [(task, kids) for task, _, kids in _scored_page(client, flt or TaskFilter(), limit, offset, 20_000,
                                                           with_children=True)]


def _scored_page(client, flt: TaskFilter, limit: int, offset: int, max_scan: int,
                 with_children: bool = False) -> list[tuple[dict[str, Any], float | None, set[str]]]:
    """`list_tasks`'s page as (decoded task, first-seen epoch s or None when no longer indexed,
    children ids: empty unless `with_children`)."""
    needle = (flt.search or "").strip()
    if needle and " " not in needle:
        raw = client.hgetall(keys.task(needle))
        if raw:
            if offset:
                return []
            kids = set(children(client, needle)) if with_children else set()
            return [(_decode(raw, needle), first_seen(client, [needle])[0], kids)]
    index_keys = _plan(client, flt)
    hi = "+inf" if flt.until is None else repr(float(flt.until))
    lo = "-inf" if flt.since is None else repr(float(flt.since))
    checks = flt.field_checks()
    chunk = limit + offset if len(index_keys) == 1 and not flt.tokens() and not checks else max(4 * (limit + offset), 500)
    script = client.register_script(_PAGE_LUA)  # EVALSHA, loading the script on first use
    pairs = [item for t in flt.tokens() for item in (keys.word_index(t), t)]
    rows = script(keys=index_keys, args=[hi, lo, limit, offset, max_scan, chunk, keys.task(""), tokens.WORD_INDEX_MAX,
                                         len(checks) // 2, keys.TASKS_ALL,
                                         keys.children("") if with_children else "", *checks, *pairs])
    return [(_decode(dict(zip(row[2][0::2], row[2][1::2])), row[0]), None if row[1] is None else float(row[1]),
             set(row[3]) if len(row) > 3 else set())
            for row in rows]


def parse_cursor(cursor: str) -> tuple[float, int]:
    """A cursor `page` returned -> (first-seen epoch s, tasks at exactly that time already listed).

    Raises:
        ValueError: not ``"<epoch s>:<n>"`` with n >= 0.
    """
    at, _, n = (cursor or "").rpartition(":")
    until, skip = float(at), int(n)
    if skip < 0:
        raise ValueError(cursor)
    return until, skip


def page(client, flt: TaskFilter | None = None, limit: int = 50,
         cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One newest-first page of at most `limit` tasks matching `flt`, and the cursor of the next
    (older) page, None when this one is not full.

    A cursor is ``"<first-seen epoch s>:<n>"``: the next page is the tasks first seen at or before
    that time (the cursor's time replaces ``flt.until``), skipping the n already listed at
    exactly that time, so tasks sharing a time are never split or repeated. Each page costs what the
    first does (`list_tasks`), however deep it is; ``flt.until`` jumps to a time.

    Raises:
        ValueError: a cursor this function did not make.
        redis.RedisError: Redis cannot be reached.
    """
    from dataclasses import replace

    flt = flt or TaskFilter()
    skip = 0
    if cursor:
        until, skip = parse_cursor(cursor)
        flt = replace(flt, until=until)
    rows = _scored_page(client, flt, limit, skip, 20_000)
    tasks = [task for task, _, _ in rows]
    nxt = None
    if len(tasks) == limit:
        scores = [score for _, score, _ in rows]
        last = scores[-1]
        if last is not None:
            same = sum(1 for s in scores if s == last)
            nxt = f"{last!r}:{same + (skip if flt.until == last else 0)}"
    return tasks, nxt


def count_by_state(client) -> dict[str, int]:
    """Number of tasks in each state (one pipelined round trip of ZCARDs): the state indexes, and
    for `UNINDEXED_STATE` the tasks of the global index in no other state."""
    pipe = client.pipeline(transaction=False)
    pipe.zcard(keys.TASKS_ALL)
    indexed = [s for s in STATES if s != UNINDEXED_STATE]
    for s in indexed:
        pipe.zcard(keys.state_index(s))
    total, *counts = (int(x) for x in pipe.execute())
    out = dict(zip(indexed, counts))
    out[UNINDEXED_STATE] = max(0, total - sum(counts))
    return {s: out[s] for s in STATES}


def task_names(client) -> list[str]:
    """Every task name seen, sorted."""
    return sorted(client.smembers(keys.TASK_NAMES))


def trim(client, retention_s: int, max_tasks: int, now: float | None = None) -> int:
    """Drop index entries older than `retention_s` or beyond the newest `max_tasks`.

    Walks the global index (oldest first) and removes each expired id from every index; the task
    hashes themselves expire by TTL. Returns how many ids were removed.
    """
    now = time.time() if now is None else now
    cutoff = now - retention_s
    removed = 0
    excess = max(0, int(client.zcard(keys.TASKS_ALL)) - max_tasks)
    while True:
        old = client.zrangebyscore(keys.TASKS_ALL, "-inf", cutoff, start=0, num=1_000)
        if not old and excess > 0:
            old = client.zrange(keys.TASKS_ALL, 0, min(excess, 1_000) - 1)
        if not old:
            return removed
        pipe = client.pipeline(transaction=False)
        for t in old:
            pipe.hget(keys.task(t), "name")
        raws = pipe.execute()
        for tid, name in zip(old, raws):
            pipe.zrem(keys.TASKS_ALL, tid)
            for s in STATES:
                pipe.zrem(keys.state_index(s), tid)
            if name:
                pipe.zrem(keys.name_index(name), tid)
            pipe.delete(keys.task(tid))
        pipe.execute()
        removed += len(old)
        excess = max(0, excess - len(old))


def timeline(client, task_id: str) -> list[dict[str, Any]]:
    """The task's state changes, oldest first: ``[{'state', 'at' (epoch s), 'info'}]``.

    Stored in the task's hash as fields ``t1``, ``t2``, … (``<state>|<epoch s>|<info>`` for ``t1``,
    later ones ``<state>|+<seconds after t1>|<info>``; see `app.store.writer.timeline_entry`), so a
    task is one Redis key; at most `app.store.writer.TIMELINE_MAX` entries besides state changes."""
    raw = client.hgetall(keys.task(task_id))
    parsed = []
    for name, value in raw.items():
        if name != "tn" and _is_timeline_field(name):
            state, _, rest = value.partition("|")
            at, _, info = rest.partition("|")
            parsed.append((int(name[1:]), state, at, info or None))
    parsed.sort()
    base, entries = None, []
    for n, state, at, info in parsed:
        try:
            when = (base or 0.0) + float(at) if at[:1] in "+-" else float(at)
        except ValueError:
            continue
        if base is None and at[:1] not in "+-":
            base = when
        entries.append((when, n, {"state": state, "at": when, "info": info}))
    entries.sort(key=lambda e: (e[0], e[1]))  # equal times keep arrival order
    return [e[2] for e in entries]


def children(client, task_id: str) -> list[str]:
    """Ids of tasks published while task `task_id` ran (subtasks, chord parts, retries by hand)."""
    return sorted(client.smembers(keys.children(task_id)))


def runtime_percentiles(client, names: list[str], quantiles=(0.5, 0.95)) -> dict[str, dict[str, float]]:
    """Per task name: count and runtime quantiles in seconds, from the histogram buckets.

    A quantile is reported as the upper bound of the bucket it falls in (as Prometheus'
    histogram_quantile does without interpolation); +Inf buckets report the largest finite bound.
    """
    out: dict[str, dict[str, float]] = {}
    for n, raw in runtime_histograms(client, names).items():
        row = quantiles_of(raw, quantiles)
        if row is not None:
            out[n] = row
    return out


def runtime_histograms(client, names: list[str]) -> dict[str, dict[str, str]]:
    """Per task name in `names`, its raw runtime histogram: ``{bucket upper bound (s, as text,
    `app.store.histogram`): count, "sum": total runtime s}`` (``{}`` when it never finished), in the
    order of `names`: one pipelined round trip (none for no names)."""
    if not names:
        return {}
    pipe = client.pipeline(transaction=False)
    for n in names:
        pipe.hgetall(keys.runtime_histogram(n))
    return dict(zip(names, pipe.execute()))


def task_fields(client, task_ids: list[str], fields: tuple[str, ...]) -> list[list[str | None]]:
    """For each id of `task_ids`, the values of `fields` in its hash (None for a missing field or
    task): one pipelined HMGET per id, one round trip (none for no ids)."""
    if not task_ids:
        return []
    pipe = client.pipeline(transaction=False)
    for tid in task_ids:
        pipe.hmget(keys.task(tid), *fields)
    return pipe.execute()


def fields_and_children(client, task_ids: list[str],
                        fields: tuple[str, ...]) -> list[tuple[list[str | None], set[str]]]:
    """For each id of `task_ids`: (values of `fields` as `task_fields`, ids of its children): one
    pipelined round trip (none for no ids)."""
    if not task_ids:
        return []
    pipe = client.pipeline(transaction=False)
    for tid in task_ids:
        pipe.hmget(keys.task(tid), *fields)
        pipe.smembers(keys.children(tid))
    replies = pipe.execute()
    return list(zip(replies[0::2], replies[1::2]))


def first_seen(client, task_ids: list[str]) -> list[float | None]:
    """Each task's first-seen time (epoch s; the score `list_tasks` pages by), None when it is no
    longer indexed: one pipelined ZSCORE per id, one round trip (none for no ids)."""
    if not task_ids:
        return []
    pipe = client.pipeline(transaction=False)
    for tid in task_ids:
        pipe.zscore(keys.TASKS_ALL, tid)
    return [None if v is None else float(v) for v in pipe.execute()]


def children_of_each(client, ids: list[str]) -> list[set[str]]:
    """The children set of each of `ids` (task or group ids), in order: one pipelined round trip."""
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for i in ids:
        pipe.smembers(keys.children(i))
    return pipe.execute()


def newest_in_state(client, state: str, limit: int) -> list[str]:
    """Ids of the `limit` tasks that entered `state` last, newest first (one ZREVRANGE). Not for
    `UNINDEXED_STATE`, which has no index (returns [])."""
    return list(client.zrevrange(keys.state_index(state), 0, limit - 1))


def tasks_in_window(client, since: float, until: float, fields: tuple[str, ...],
                    page_size: int = 1_000) -> Iterator[list[tuple[str, dict[str, str | None]]]]:
    """Pages (newest first) of ``(task id, {field: raw text or None})`` for tasks first seen in
    [since, until] (epoch s): one ZREVRANGEBYSCORE and one pipelined HMGET per page of
    `page_size`; ids whose hash has expired are left out, each id comes once. Stop iterating to
    stop reading."""
    seen: set[str] = set()
    for ids in _chunks(lambda start: client.zrevrangebyscore(keys.TASKS_ALL, until, since,
                                                            start=start, num=page_size)):
        # a task written meanwhile with a first-seen time inside the window shifts the offsets
        # by one: the id at a page boundary then comes twice, and is left out the second time
        ids = [tid for tid in ids if tid not in seen]
        seen.update(ids)
        if not ids:
            continue
        pipe = client.pipeline(transaction=False)
        for tid in ids:
            pipe.hmget(keys.task(tid), *fields)
        yield [(tid, dict(zip(fields, values))) for tid, values in zip(ids, pipe.execute())
               if values and any(v is not None for v in values)]


def _chunks(fetch) -> Iterator[list[str]]:
    """Successive non-empty results of ``fetch(offset)`` (a ranged sorted-set read), the offset
    advancing by what each call returned, until one comes back empty."""
    start = 0
    while ids := fetch(start):
        start += len(ids)
        yield ids


def ids_first_seen_before(client, cutoff: float, chunk: int = 1_000) -> Iterator[list[str]]:
    """Chunks (oldest first) of ids of tasks first seen at or before `cutoff` (epoch s)."""
    yield from _chunks(lambda start: client.zrangebyscore(keys.TASKS_ALL, "-inf", cutoff,
                                                          start=start, num=chunk))


def ids_entered(client, state: str, after: float | None, until: float,
                chunk: int = 1_000) -> Iterator[list[str]]:
    """Chunks (oldest first) of ids now in `state` that entered it in (after, until] (epoch s;
    `after` None means from the beginning). Not for `UNINDEXED_STATE` (it has no index).

    Raises:
        ValueError: `state` is `UNINDEXED_STATE`.
    """
    if state == UNINDEXED_STATE:
        raise ValueError(f"{state} has no state index")
    low = "-inf" if after is None or after == float("-inf") else f"({after}"
    yield from _chunks(lambda start: client.zrangebyscore(keys.state_index(state), low, until,
                                                          start=start, num=chunk))


def active_tasks(client, fields: tuple[str, ...] = ("args", "kwargs"),
                 chunk: int = 1_000) -> Iterator[tuple[str, dict[str, str | None]]]:
    """``(task id, {field: raw text or None})`` of every task waiting or running (`ACTIVE_STATES`):
    one ZRANGE per state and chunk, one pipelined HMGET per chunk."""
    for state in ACTIVE_STATES:
        index = keys.state_index(state)
        for ids in _chunks(lambda start: client.zrange(index, start, start + chunk - 1)):
            pipe = client.pipeline(transaction=False)
            for tid in ids:
                pipe.hmget(keys.task(tid), *fields)
            for tid, values in zip(ids, pipe.execute()):
                yield tid, dict(zip(fields, values))


def failed_cleaned_until(client) -> float | None:
    """Epoch seconds up to which failed tasks' leftovers were removed (None: never)."""
    value = client.get(keys.FAILED_CLEANED_UNTIL)
    return float(value) if value else None


def set_failed_cleaned_until(client, until: float) -> None:
    """Move the failed-cleanup watermark to `until` (epoch s)."""
    client.set(keys.FAILED_CLEANED_UNTIL, repr(float(until)))


def per_minute(client, states: tuple[str, ...], minutes: int = 60, now: float | None = None) -> dict[str, list]:
    """Counts per UTC minute for the last `minutes`: ``{'minute': [datetime...], state: [int...]}``."""
    from datetime import datetime, timedelta, timezone

    now = time.time() if now is None else now
    end = datetime.fromtimestamp(now, timezone.utc).replace(second=0, microsecond=0)
    stamps = [end - timedelta(minutes=i) for i in range(minutes - 1, -1, -1)]
    labels = [s.strftime("%Y%m%d%H%M") for s in stamps]
    out: dict[str, list] = {"minute": stamps}
    for st in states:
        values = client.mget([keys.counter(st, m) for m in labels])
        out[st] = [int(v or 0) for v in values]
    return out
