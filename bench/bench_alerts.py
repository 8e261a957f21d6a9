"""Benchmark: alert-rule evaluation over a large history, and the cost of failure grouping.

Run: ``.venv/bin/python bench/bench_alerts.py [--sizes 10000,100000,1000000] [--evals 30]
[--parts rules,grouping]``

Everything runs on a private valkey-server (no persistence; `app.launcher.redis_server`) that is
also the broker and RedBeat's store of this run (REDIS_URL points at it before the app is imported).

1. **Rule evaluation** with 100 rules, a mix of every kind in `app.alerts.rules.KINDS`
   (`make_rules`): failure_rate per task name (20 names, 600 s; 14 more at 3600 s), for every name
   ("*", 60/600/3600 s), per queue (5 queues + "*"); queue_depth, queue_age and no_consumer per queue
   and "*"; worker_offline per worker (8) and "*"; runtime_p95 per name and "*"; redis_memory (3
   fractions); schedule_missed per RedBeat entry (5, saved in Redis; no beat needs to run) and "*".
   The broker holds a few real messages (sent with `send_task`, nobody consumes two of the queues),
   two of the eight workers stopped sending heartbeats, maxmemory is set, so rules of every kind
   have something to look at and some fire.
   The history is filled to each size (10k, 100k, 1M tasks) by calling the store's writer directly
   (`app.store.writer.write_batch`, 1,000 changes per script call): one change per task whose timeline
   holds SENT / STARTED / SUCCESS or FAILURE (1 task in 17 fails, with a varying exception text;
   20 task names, 5 queues, 8 workers), finish times spread over the hour before the fill starts.
   The evaluations' clock (`Context(now=...)`) starts at the end of that hour, so every window holds
   tasks however long the fill took. Twenty warm-up evaluations, dated 30 s apart over the last 10
   minutes, give the runtime_p95
   rules the histogram snapshots they hold in steady state; then `app.alerts.engine.evaluate(client,
   checks.Context(...), rules)` is timed `--evals` times (new Context each time, as the periodic task
   does): wall ms, client CPU ms (`time.process_time`) and Redis CPU ms (INFO cpu, main thread), p50
   and p95. Target: <= 50 ms per evaluation, flat from 10k to 1M tasks (t(1M)/t(10k)).
   Baseline in the same run, interleaved with the timed evaluations: the failure_rate rules' counts
   computed the naive way, from the task indexes (for each task name a rule names, walk
   ``cc:idx:name:<x>`` over the window, for the queues ``cc:idx:all`` once per window, and HMGET
   each task's state and finish time (and queue), pipelined 1,000 at a time; each (subject,
   window) read once per evaluation). It grows with N, so it runs
   fewer times at 1M. Both ways must give the same counts (checked once per size, printed). The
   fast path over the failure_rate rules alone is timed too (same rule set as the baseline).
2. **Grouping cost per failure**: the recorder's stream of state changes for tasks of which 1 in 17
   fails (publisher side: SENT with arguments, batches of 200; worker side: STARTED, then FAILURE
   with exception and traceback, then FAILURE with the runtime (the two signals the recorder
   sends), or SUCCESS; batches of 200 folded by `writer._merge`, as the writer's sender thread does), written
   twice: with grouping, and with the FAILURE changes' exception text under another field name (no
   fingerprint, no group update, the same bytes stored). Per state change: writer Python CPU
   (building the change as `writer.record` does + merge + encode + send) and Redis CPU (INFO cpu
   delta). The two sides' batches alternate (A B, B A, ...; cyclic GC off while timing), the
   database is flushed before each round (one uncounted warm-up round first); medians of the
   rounds. An A/A control (both sides with grouping, other task ids) shows the method's own bias.
   Then the same for FAILURE changes alone (SENT and STARTED written first, untimed; every task
   fails). Target: <= 5 % added per state change.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.launcher import redis_server  # noqa: E402

#: The store's retention and cap for the benchmark's history (30 days, 10 M tasks).
HISTORY = {"retention_s": 30 * 86_400, "max_tasks": 10_000_000}
QUEUES = ("email_queue", "file_processing_queue", "ai_queue", "reports_queue", "default_queue")
NAMES = [f"app.tasks.bench.task_{i}" for i in range(20)]
WORKERS = [f"w{i}@bench" for i in range(8)]
#: Workers 6 and 7 stopped sending heartbeats (worker_offline rules fire for them).
OFFLINE = set(WORKERS[6:])
#: Queues with waiting messages and no consumer (no worker lists them): no_consumer fires.
UNCONSUMED = ("reports_queue", "ai_queue")
ENTRIES = [f"bench-entry-{i}" for i in range(5)]
FAIL_EVERY = 17
TRACEBACK = ("Traceback (most recent call last):\n"
             '  File "/app/.venv/lib/python3.11/site-packages/celery/app/trace.py", line 453, in trace_task\n'
             "    R = retval = fun(*args, **kwargs)\n"
             '  File "/app/app/tasks/base.py", line 88, in __call__\n'
             "    return super().__call__(*args, **kwargs)\n"
             '  File "/app/app/tasks/file_tasks.py", line 141, in process_docx_file\n'
             "    text = extract(path, ops)\n"
             '  File "/app/app/services/files.py", line 57, in extract\n'
             "    raise TimeoutError(f\"Timeout after {t} s on {path}\")\n")


def exception_text(i: int) -> str:
    """A varying exception line (numbers, paths, ids, hosts differ) of four kinds."""
    k = (i // FAIL_EVERY) % 4
    if k == 0:
        return f"TimeoutError: Timeout after {i % 60} s on /data/uploads/file-{i}.docx"
    if k == 1:
        return f"ValueError: bad row {i % 997} in sheet {i % 7}"
    if k == 2:
        return f"ConnectionError: Error 111 connecting to 10.0.{i % 250}.{i % 7}:6379. Connection refused."
    return f"KeyError: 'user-{uuid.UUID(int=i)}'"


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def redis_cpu_s(client) -> float:
    """Redis server CPU seconds so far (main thread when the server reports it, else the process)."""
    info = client.info("cpu")
    if "used_cpu_user_main_thread" in info:
        return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# ---- part 1: rule evaluation ----------------------------------------------------------------------

def fill(client, start: int, end: int, window_end: float, per_call: int = 1000) -> None:
    """Tasks `start`..`end`-1 with finish times spread over the hour before `window_end`."""
    from app.store import writer

    rnd = random.Random(start)
    span = end - start
    batch: list[tuple] = []
    for i in range(start, end):
        tid = str(uuid.UUID(int=rnd.getrandbits(128)))
        name, queue, worker = NAMES[i % len(NAMES)], QUEUES[i % len(QUEUES)], WORKERS[i % len(WORKERS)]
        runtime = 0.01 + (i % 100) / 200
        t2 = window_end - 3600 + (i - start + rnd.random()) * 3600 / span - 0.5
        t1 = t2 - runtime
        t0 = t1 - 0.02
        failed = i % FAIL_EVERY == 0
        fields = {"sent_at": t0, "started_at": t1, "finished_at": t2, "runtime_s": runtime,
                  "args": f'["/data/uploads/file-{i}.docx"]', "kwargs": "{}"}
        info = None
        if failed:
            info = exception_text(i)
            fields.update(exception=info, traceback=TRACEBACK)
        else:
            fields["result"] = '{"status": "completed"}'
        timeline = [{"state": "SENT", "at": t0, "info": None}, {"state": "STARTED", "at": t1, "info": worker},
                    {"state": "FAILURE" if failed else "SUCCESS", "at": t2, "info": info}]
        batch.append((tid, "FAILURE" if failed else "SUCCESS", fields, t2,
                      {"name": name, "queue": queue, "worker": worker, "timeline": timeline}))
        if len(batch) >= per_call:
            writer.write_batch(client, batch, **HISTORY)
            batch = []
    if batch:
        writer.write_batch(client, batch, **HISTORY)


def write_workers(client, now: float) -> None:
    """Eight worker heartbeats: six online (consuming every queue but UNCONSUMED), two silent for 5 min."""
    from app.store import keys

    consumed = [q for q in QUEUES if q not in UNCONSUMED]
    for w in WORKERS:
        at = now - 300 if w in OFFLINE else now + 3600  # online ones stay fresh for the whole run
        client.hset(keys.worker(w), mapping={"hostname": w, "status": "online", "queues": json.dumps(consumed),
                                             "pool": "prefork", "concurrency": "4", "active": "[]",
                                             "last_heartbeat": str(at)})
        client.zadd(keys.WORKERS, {w: at})


def make_rules():
    """100 validated rules, every kind (see module docstring)."""
    from app.alerts.rules import Rule, validate

    out = []

    def add(kind, **params):
        out.append(validate(Rule(id=f"b-{len(out):03d}", name=f"{kind} {len(out)}", kind=kind, params=params,
                                 cooldown_s=600)))
    for n in NAMES:
        add("failure_rate", scope="task", target=n, threshold_pct=20, min_runs=10, window_s=600)
    for n in NAMES[:14]:
        add("failure_rate", scope="task", target=n, threshold_pct=5, min_runs=100, window_s=3600)
    for w in (60, 600, 3600):
        add("failure_rate", scope="task", target="*", threshold_pct=5, min_runs=20, window_s=w)
    for q in (*QUEUES, "*"):
        add("failure_rate", scope="queue", target=q, threshold_pct=10, min_runs=20, window_s=300)
    for q in (*QUEUES, "*"):
        add("queue_depth", queue=q, threshold=20, for_s=0)
        add("queue_age", queue=q, threshold_s=1.0, for_s=0)
        add("no_consumer", queue=q, for_s=0)
    for w in (*WORKERS, "*"):
        add("worker_offline", worker=w, for_s=0)
    for n in NAMES:
        add("runtime_p95", task=n, threshold_s=0.4, window_s=600, min_runs=5)
    add("runtime_p95", task="*", threshold_s=0.4, window_s=3600, min_runs=5)
    for f in (0.5, 0.8, 0.9):
        add("redis_memory", fraction=f)
    for e in (*ENTRIES, "*"):
        add("schedule_missed", entry=e, grace_s=60, include_late=True, include_failing=True)
    assert len(out) == 100, len(out)
    assert {r.kind for r in out} == set(__import__("app.alerts.rules", fromlist=["KINDS"]).KINDS)
    return out


def setup_broker_and_schedules(app, client) -> None:
    """A few real waiting messages per queue, and five RedBeat entries (never run: no beat)."""
    from app import runtime, schedules

    for q in QUEUES:
        for j in range(30 if q in UNCONSUMED else 5):
            app.send_task(NAMES[j % len(NAMES)], args=[j], queue=q)
    runtime.get().writer.flush()
    for i, e in enumerate(ENTRIES):
        schedules.save_entry(app, e, NAMES[i], {"type": "interval", "every_s": 60 * (i + 1)}, check_task=False)


def naive_rates(client, rules, now: float) -> dict[tuple, tuple[int, int]]:
    """(scope, subject, window_s) -> (finished, failed) from the task indexes, for every subject
    the failure_rate `rules` name (the baseline: reads every task finished in the window). A task
    name's runs come from its name index; a queue's from the global index (the history keeps no
    per-queue index: a queue filter is checked on the walked tasks), read once per window for all
    queues."""
    from app.store import keys

    names = None
    wanted: set[tuple] = set()
    for r in rules:
        p = r.params
        if p["target"] == "*":
            if p["scope"] == "task":
                names = names if names is not None else sorted(client.smembers(keys.TASK_NAMES))
                subjects = names
            else:
                subjects = list(QUEUES)
        else:
            subjects = [p["target"]]
        wanted.update((p["scope"], s, p["window_s"]) for s in subjects)
    end_minute = int(now // 60)

    def walk(index: str, window_s: int, *extra: str):
        """(state, finished_at, *extra) of the tasks of `index` finished in the window's minutes."""
        start = (end_minute - max(1, window_s // 60) + 1) * 60  # the same whole minutes as the counters
        # indexes are scored by first-seen time; a task finishing in the window was first seen at
        # most its runtime (< 1 s here; 60 s of slack) before
        ids = client.zrangebyscore(index, start - 60, "+inf")
        for k in range(0, len(ids), 1000):
            pipe = client.pipeline(transaction=False)
            for tid in ids[k:k + 1000]:
                pipe.hmget(keys.task(tid), "state", "finished_at", *extra)
            for row in pipe.execute():
                if row[0] in ("SUCCESS", "FAILURE") and row[1] and float(row[1]) >= start:
                    yield row

    out = {}
    by_queue: dict[int, dict[str, list[int]]] = {}
    for scope, subject, window_s in sorted(wanted):
        if scope == "task":
            finished = failed = 0
            for state, *_ in walk(keys.name_index(subject), window_s):
                finished += 1
                failed += state == "FAILURE"
            out[(scope, subject, window_s)] = (finished, failed)
        else:
            if window_s not in by_queue:
                per: dict[str, list[int]] = {}
                for state, _, queue in walk(keys.TASKS_ALL, window_s, "queue"):
                    c = per.setdefault(queue, [0, 0])
                    c[0] += 1
                    c[1] += state == "FAILURE"
                by_queue[window_s] = per
            out[(scope, subject, window_s)] = tuple(by_queue[window_s].get(subject, (0, 0)))
    return out


def counter_rates(ctx, keys_wanted) -> dict[tuple, tuple[int, int]]:
    out = {}
    for scope, subject, window_s in keys_wanted:
        c = ctx.rate_counts(window_s)
        tag = "n" if scope == "task" else "q"
        out[(scope, subject, window_s)] = (c.get(f"T|{tag}|{subject}", 0), c.get(f"F|{tag}|{subject}", 0))
    return out


def run_rules(client, app, sizes: list[int], evals: int, naive_evals: int) -> list[dict]:
    """Part 1 (module docstring); `naive_evals` 0 = max(3, min(20, 1M // tasks)) baseline runs."""
    from app.alerts import checks, engine
    from app.store import keys

    rules = make_rules()
    fr_rules = [r for r in rules if r.kind == "failure_rate"]
    write_workers(client, time.time())
    setup_broker_and_schedules(app, client)
    client.config_set("maxmemory", str(16 * 2**30))
    qnames = list(QUEUES)

    clock = {"offset": 0.0}

    def now_():
        return time.time() + clock["offset"]

    def context(now=None):
        return checks.Context(client, client, qnames, offline_after_s=10.0, app=app,
                              now=now_() if now is None else now)

    rows, have = [], 0
    for n in sizes:
        t0 = time.perf_counter()
        c0 = time.process_time()
        r0 = redis_cpu_s(client)
        window_end = time.time()
        fill(client, have, n, window_end)
        fill_s, fill_cpu, fill_rcpu = time.perf_counter() - t0, time.process_time() - c0, redis_cpu_s(client) - r0
        have = n
        client.hdel(keys.ALERT_STATE, *[r.id for r in rules])
        # the evaluations' clock starts where the filled hour ends (however long the fill took)
        clock["offset"] = window_end - time.time()
        now0 = now_()
        for j in range(20):  # steady-state rule states (runtime_p95 snapshots), see module docstring
            engine.evaluate(client, context(now0 - 600 + 30 * (j + 1)), rules)
        firing_rules = [r for r in rules if json.loads(client.hget(keys.ALERT_STATE, r.id) or "{}").get("firing")]
        n_naive = naive_evals or max(3, min(20, 1_000_000 // n))
        samples = {f"{p}{k}": [] for p in ("", "fr_", "naive_") for k in ("wall", "cpu", "rcpu", "tcpu")}
        naive = mismatches = None
        for i in range(evals):
            for kind in ("all", "fr") + (("naive",) if i < n_naive else ()):
                c0, r0, t0 = time.process_time(), redis_cpu_s(client), time.perf_counter()
                if kind == "all":
                    engine.evaluate(client, context(), rules)
                elif kind == "fr":
                    engine.evaluate(client, context(), fr_rules)
                else:
                    naive_now = now_()
                    got = naive_rates(client, fr_rules, naive_now)
                wall, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
                rcpu = (redis_cpu_s(client) - r0) * 1000
                p = {"all": "", "fr": "fr_", "naive": "naive_"}[kind]
                for k, v in (("wall", wall), ("cpu", cpu), ("rcpu", rcpu), ("tcpu", cpu + rcpu)):
                    samples[p + k].append(v)
                if kind == "naive" and naive is None:  # both ways must count the same runs
                    naive = got
                    fast = counter_rates(context(naive_now), naive.keys())
                    mismatches = sum(1 for key in naive if naive[key] != fast[key])
        row = {"tasks": n, "fill_s": fill_s, "fill_tasks_per_s": (n - (rows[-1]["tasks"] if rows else 0)) / fill_s,
               "load_avg_1m": os.getloadavg()[0], "fill_cpu_s": fill_cpu, "fill_redis_cpu_s": fill_rcpu,
               "redis_used_mb": int(client.info("memory")["used_memory"]) / 2**20,
               "rules_firing": len(firing_rules), "kinds_firing": sorted({r.kind for r in firing_rules}),
               "counts_checked": len(naive), "counts_mismatched": mismatches, "evals": evals,
               "naive_evals": min(evals, n_naive),
               "window_tasks_600s": sum(v[0] for k, v in naive.items() if k[0] == "task" and k[2] == 600
                                        and k[1] in NAMES)}
        for k, v in samples.items():
            row[f"{k}_p50_ms"], row[f"{k}_p95_ms"] = statistics.median(v), pct(v, 0.95)
        row["naive_over_fr_cpu"] = row["naive_tcpu_p50_ms"] / row["fr_tcpu_p50_ms"]
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    return rows


# ---- part 2: grouping cost ----------------------------------------------------------------------------

def _item(change) -> tuple:
    """The queued item `writer.record` makes of a StateChange (what the writer's sender thread then batches)."""
    search = " ".join(t for t in (change.args, change.kwargs) if t) or None
    return (change.task_id, change.state, change.hash_fields(), change.timestamp,
            dict(name=change.name, queue=change.queue, worker=change.worker, search_text=search,
                 parent_id=change.parent_id, info=change.info, source=change.source))


def task_changes(i: int, grouped: bool, fail_every: int, base: float, side: int):
    """(publisher changes, worker changes) of task `i`, as the recorder reports them; each `side`
    (0, 1) gets its own task ids; without `grouped` the exception text is under ``exc_text``."""
    from app.store.writer import StateChange

    tid = str(uuid.UUID(int=(i << 1 | side) * 0x9E3779B97F4A7C15 % (1 << 128)))
    name, queue, worker = NAMES[i % len(NAMES)], QUEUES[i % len(QUEUES)], WORKERS[i % len(WORKERS)]
    t0 = base + i * 0.001
    args = f'["/data/uploads/file-{i}.docx", ["extract_text"]]'
    pub = [StateChange(tid, "SENT", t0, name=name, queue=queue, args=args, kwargs="{}", args_json=args,
                       kwargs_json="{}", retries=0)]
    work = [StateChange(tid, "STARTED", t0 + 0.01, name=name, queue=queue, worker=worker, retries=0,
                        info=worker, fields={"pid": 4242})]
    runtime = 0.01 + (i % 100) / 200
    if i % fail_every == 0:
        exc = exception_text(i)
        extra = {"exception": exc} if grouped else {"exc_text": exc}
        work.append(StateChange(tid, "FAILURE", t0 + 0.01 + runtime, name=name, traceback=TRACEBACK,
                                info=exc[:200], fields=extra))
        work.append(StateChange(tid, "FAILURE", t0 + 0.01 + runtime + 0.0001, name=name, worker=worker,
                                runtime_s=runtime))
    else:
        work.append(StateChange(tid, "SUCCESS", t0 + 0.01 + runtime, name=name, worker=worker, runtime_s=runtime,
                                result='{"status": "completed", "chars": 18231}'))
    return pub, work


def stream_batches(n_tasks: int, grouped: bool, fail_every: int, failures_only: bool, side: int):
    """(untimed batches, timed batches) of StateChanges, 200 changes per batch: publisher batches
    (SENT) then worker batches (STARTED + finish); with `failures_only` SENT and STARTED are
    untimed and the timed batches hold the FAILURE changes alone."""
    base = time.time() - 1800
    pubs, works = [], []
    for i in range(n_tasks):
        p, w = task_changes(i, grouped, fail_every, base, side)
        pubs += p
        works.append(w)
    if failures_only:
        untimed = pubs + [w[0] for w in works]
        timed = [c for w in works for c in w[1:]]
    else:
        untimed, timed = [], pubs + [c for w in works for c in w]
    cut = lambda xs: [xs[k:k + 200] for k in range(0, len(xs), 200)]  # noqa: E731
    return cut(untimed), cut(timed)


def write_interleaved(client, n_tasks: int, fail_every: int, failures_only: bool, control: bool = False) -> dict:
    """Both sides' batches alternately (A B, then B A, ...), each timed on its own: per side
    (True = with grouping, False = without, or also with grouping when `control`: an A/A run that
    shows the method's own bias) {changes, py_cpu_s, redis_cpu_s, wall_s}."""
    from app.store import writer

    sides = {g: stream_batches(n_tasks, g or control, fail_every, failures_only, 0 if g else 1) for g in (True, False)}
    for g in sides:
        for b in sides[g][0]:
            writer.write_batch(client, [_item(c) for c in b], **HISTORY)
    out = {g: {"changes": 0, "py_cpu_s": 0.0, "redis_cpu_s": 0.0, "wall_s": 0.0} for g in sides}
    # the cyclic GC off while timing: a collection costs in proportion to the whole heap and lands
    # on whichever side happens to allocate then (an A/A run showed an 8 µs per change bias)
    gc.collect()
    gc.disable()
    try:
        _timed_pairs(client, sides, out)
    finally:
        gc.enable()
    return out


def _timed_pairs(client, sides, out) -> None:
    from app.store import writer

    for k in range(len(sides[True][1])):
        for g in ((True, False) if k % 2 == 0 else (False, True)):
            b = sides[g][1][k]
            r0, c0, t0 = redis_cpu_s(client), time.process_time(), time.perf_counter()
            writer.write_batch(client, [_item(c) for c in b], **HISTORY)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            o = out[g]
            o["redis_cpu_s"] += redis_cpu_s(client) - r0
            o["py_cpu_s"] += cpu
            o["wall_s"] += wall
            o["changes"] += len(b)


def run_grouping(client, n_tasks: int, rounds: int) -> dict:
    """Part 2 (module docstring): per stream, medians over `rounds` of µs per state change."""
    from app.store import keys

    out = {}
    for label, fail_every, only, control in (("stream, 1 in 17 fails", FAIL_EVERY, False, False),
                                             ("A/A control (stream)", FAIL_EVERY, False, True),
                                             ("FAILURE changes alone", 1, True, False)):
        per = {True: [], False: []}
        client.flushdb()
        write_interleaved(client, max(1000, n_tasks // 10), fail_every, only, control)  # warm-up, not counted
        for r in range(rounds):
            client.flushdb()
            res = write_interleaved(client, n_tasks, fail_every, only, control)
            groups = client.zcard(keys.FAILURE_GROUPS)
            assert groups > 0, "no failure group written"
            for g, x in res.items():
                us = {k: x[k] / x["changes"] * 1e6 for k in ("py_cpu_s", "redis_cpu_s", "wall_s")}
                us["total"] = us["py_cpu_s"] + us["redis_cpu_s"]
                per[g].append(us)
                print(json.dumps({"part": label, "round": r, "grouping": g, "changes": x["changes"],
                                  "groups": groups, **{f"{k}_us": round(v, 2) for k, v in us.items()}}), flush=True)
        med = {g: {k: statistics.median(x[k] for x in per[g]) for k in per[g][0]} for g in per}
        pairs = [(a["total"] - b["total"]) / b["total"] * 100 for a, b in zip(per[True], per[False])]
        out[label] = {"with": med[True], "without": med[False], "added_pct_pairs": pairs,
                      "added_pct": statistics.median(pairs),
                      "added_us": med[True]["total"] - med[False]["total"]}
    client.flushdb()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000", help="history sizes, increasing")
    ap.add_argument("--evals", type=int, default=30, help="timed evaluations per size (>= 20)")
    ap.add_argument("--naive-evals", type=int, default=0,
                    help="baseline evaluations per size (default: max(3, min(20, 1,000,000 // tasks)))")
    ap.add_argument("--parts", default="rules,grouping")
    ap.add_argument("--group-tasks", type=int, default=20_000, help="tasks per stream in part 2")
    ap.add_argument("--group-rounds", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    parts = set(args.parts.split(","))

    tmp = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    port = redis_server.free_port()
    proc = redis_server.start(port, tmp / "redis", persist=False)
    url = f"redis://127.0.0.1:{port}/0"
    os.environ.update(REDIS_URL=url, DATA_DIR=str(tmp / "data"))
    for k in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(k, None)
    from config.celery_config import celery_app  # noqa: E402 - after REDIS_URL points here

    from app.store.clients import redis_from_url

    client = redis_from_url(url, socket_timeout_s=600)
    rows, grouping = [], {}
    try:
        if "rules" in parts:
            rows = run_rules(client, celery_app, sizes, max(20, args.evals), args.naive_evals)
        if "grouping" in parts:
            client.flushall()
            grouping = run_grouping(client, args.group_tasks, args.group_rounds)
    finally:
        proc.terminate()
        proc.wait(60)
    report(rows, grouping)


def report(rows: list[dict], grouping: dict) -> None:
    if rows:
        print("\n1. Rule evaluation, 100 rules of every kind (engine.evaluate; medians and p95 of the timed runs;"
              "\n   CPU = this process + Redis server; 'fr' = the 43 failure_rate rules alone, fast path vs. naive)")
        print(f"{'tasks':>9} {'fill t/s':>8} {'wall p50':>9} {'wall p95':>9} {'CPU p50':>8} {'CPU p95':>8}"
              f" {'fr wall':>8} {'fr CPU':>7} {'naive wall':>10} {'naive CPU':>10} {'naive/fr CPU':>12}"
              f" {'counts equal':>12} {'firing':>6}")
        for r in rows:
            print(f"{r['tasks']:>9,} {r['fill_tasks_per_s']:>8,.0f} {r['wall_p50_ms']:>7.1f}ms {r['wall_p95_ms']:>7.1f}ms"
                  f" {r['tcpu_p50_ms']:>6.1f}ms {r['tcpu_p95_ms']:>6.1f}ms {r['fr_wall_p50_ms']:>6.1f}ms"
                  f" {r['fr_tcpu_p50_ms']:>5.1f}ms {r['naive_wall_p50_ms']:>8,.0f}ms {r['naive_tcpu_p50_ms']:>8,.0f}ms"
                  f" {r['naive_over_fr_cpu']:>11,.0f}x {r['counts_checked'] - r['counts_mismatched']:>6}/{r['counts_checked']:<5}"
                  f" {r['rules_firing']:>6}")
        first, last = rows[0], rows[-1]
        print(f"evaluation at {last['tasks']:,} tasks: CPU p50 {last['tcpu_p50_ms']:.1f} ms (client "
              f"{last['cpu_p50_ms']:.1f} + Redis {last['rcpu_p50_ms']:.1f}), wall p50 {last['wall_p50_ms']:.1f} ms / "
              f"p95 {last['wall_p95_ms']:.1f} ms (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        print(f"target <= 50 ms: CPU {'met' if last['tcpu_p50_ms'] <= 50 else 'NOT met'}, wall p50 "
              f"{'met' if last['wall_p50_ms'] <= 50 else 'NOT met'}; flat: t({last['tasks']:,})/t({first['tasks']:,}) = "
              f"{last['tcpu_p50_ms'] / first['tcpu_p50_ms']:.2f} CPU, {last['wall_p50_ms'] / first['wall_p50_ms']:.2f} wall; "
              f"baseline (naive failure rates) t({last['tasks']:,})/t({first['tasks']:,}) = "
              f"{last['naive_tcpu_p50_ms'] / first['naive_tcpu_p50_ms']:.0f} CPU")
    if grouping:
        print("\n2. Failure grouping cost, µs per state change (medians of the rounds; Python = writer CPU,"
              " Redis = server CPU)")
        print(f"{'stream':<24} {'grouping':>8} {'Python':>8} {'Redis':>8} {'CPU':>8} {'wall':>8}")
        for label, g in grouping.items():
            for side in ("with", "without"):
                m = g[side]
                side = "with" if side == "with" or label.startswith("A/A") else side
                print(f"{label:<24} {side:>8} {m['py_cpu_s']:>8.2f} {m['redis_cpu_s']:>8.2f} {m['total']:>8.2f}"
                      f" {m['wall_s']:>8.2f}")
            print(f"{'':<24} added {g['added_pct']:+.1f} % CPU per state change, {g['added_us']:+.2f} µs "
                  f"(median of the rounds: " + ", ".join(f"{p:+.1f}" for p in g["added_pct_pairs"]) + ")")
        s, aa = grouping["stream, 1 in 17 fails"], grouping["A/A control (stream)"]
        print(f"target <= 5 % added per state change: {s['added_pct']:+.1f} % (A/A control {aa['added_pct']:+.1f} %)"
              f" -> {'met' if s['added_pct'] <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
