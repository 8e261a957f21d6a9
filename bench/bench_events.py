"""Benchmark: Celery events ingested per second into the durable history, next to Flower's EventsState.

Run: ``.venv/bin/python bench/bench_events.py [--tasks 20000] [--publishers 1,4,16] [--lag-tasks 2000]``
or, several monitored apps: ``.venv/bin/python bench/bench_events.py --apps 1,3 [--tasks 20000] [--publishers 3]``

1. Ingest rate, two ways per publisher count: "live" (consumers read while the publishers send:
   on 2 cores the rate is bounded by the publishers sharing the CPU) and "backlog" (the consumers
   are subscribed but hold until every publisher is done, then drain what Redis buffered for
   them: the consumers' own capacity). On a private valkey-server (pub/sub output-buffer limit lifted so a slow subscriber
   is measured, not disconnected), P publisher processes (P = 1, 4, 16) replay a recorded Celery
   event stream through the real broker: per task a task-sent (sent unbuffered, as a client
   does), then task-received / task-started / task-succeeded (buffered in lists of 24, as a prefork
   worker's dispatcher does), plus a worker-heartbeat every 2 s per publisher. The field sets are
   those Celery 5 clients and workers send (``TEMPLATES``); ids, arguments and times are fresh.
   Two consumers subscribe to the same stream in their own processes, in the same run:
   - ours: `app.monitor.events.Ingester` with its writer process (`app.monitor.event_writer.
     ProcessWriter`, the store's Lua write path); timed from the first event to the moment the last
     change is written to Redis (the writer flushed), then the history is checked (every task in
     SUCCESS); its CPU figure counts both processes;
   - Flower: Celery's EventReceiver feeding `flower.events.EventsState.event` (memory only), timed
     from the first to the last event.
   Target: ours >= 20,000 events/s on this 2-core machine. The machine is shared, so each row also
   gives events per CPU-second of the consumer process (ours also with the Redis server's CPU for
   the writes), which does not depend on what else runs.
2. Lag behind a real worker. A 2-process prefork worker (bench/noop_raw.py, events on) runs N no-op
   tasks while the ingester records them; reported: the worker's rate (tasks/s and events/s), and
   the lag = time from the worker's last result to the history holding every task as SUCCESS.
3. ``--apps 1,3``: backlog rounds with the same publishers (``--publishers``, one count, spread
   round-robin) and tasks over 1 and 3 apps, each app on a broker server of its own, one ingester
   per app (as `python -m app` runs them) writing one history, against one Flower EventsState per
   broker (Flower watches one broker). Prints the aggregate rates, ours/Flower and the ratio to
   the one-app rate (target: >= 0.9 with 3 apps, and >= 2x Flower).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Fields of Celery 5 events as a client (task-sent) and a worker send them (celery.app.amqp
#: send_task_message, celery.worker.request); hostname, pid, clock, utcoffset and timestamp are
#: added by the dispatcher.
TEMPLATES = {
    "task-sent": {"name": "shop.tasks.resize_image", "args": "('images/sku-1042.png', 256)",
                  "kwargs": "{'quality': 85}", "retries": 0, "eta": None, "expires": None,
                  "queue": "images", "exchange": "", "routing_key": "images", "root_id": None,
                  "parent_id": None},
    "task-received": {"name": "shop.tasks.resize_image", "args": "('images/sku-1042.png', 256)",
                      "kwargs": "{'quality': 85}", "root_id": None, "parent_id": None, "retries": 0,
                      "eta": None, "expires": None},
    "task-started": {},
    "task-succeeded": {"result": "{'path': 'thumbs/sku-1042.png', 'bytes': 18231}", "runtime": 0.0123},
}
READY_KEY = "bench:events:ready"
GO_KEY = "bench:events:go"
#: Backlog mode: consumers hold (not reading; Redis buffers what is published) until this is set.
CONSUME_KEY = "bench:events:consume"
PROBE_HOST = "probe@bench"


class _Hold:
    """Per-consumer readiness: the first probe event says "subscribed"; in backlog mode the consumer
    then waits for CONSUME_KEY before reading on (what arrives meanwhile waits in Redis)."""

    def __init__(self, r, backlog: bool):
        self.r, self.backlog, self.ready = r, backlog, False

    def probe(self, event) -> bool:
        if event.get("hostname") != PROBE_HOST:
            return False
        if not self.ready:
            self.ready = True
            self.r.incr(READY_KEY)
            while self.backlog and not self.r.exists(CONSUME_KEY):
                time.sleep(0.01)
        return True


def _app(url):
    from celery import Celery

    return Celery("bench-events", broker=url, set_as_current=False)


# -- publisher ---------------------------------------------------------------------------------------
def publish(url: str, index: int, tasks: int, control_url: str | None = None) -> None:
    import redis

    r = redis.Redis.from_url(control_url or url)
    app = _app(url)
    with app.connection_for_write() as conn:
        client = app.events.Dispatcher(conn, hostname=f"client{index}@bench", enabled=True)
        worker = app.events.Dispatcher(conn, hostname=f"worker{index}@bench", enabled=True,
                                       buffer_group=["task"], buffer_limit=24)
        while not r.exists(GO_KEY):
            time.sleep(0.01)
        t0 = time.perf_counter()
        last_hb = 0.0
        for i in range(tasks):
            task_id = str(uuid.uuid4())
            args = f"('images/sku-{index}-{i}.png', {i % 512})"  # every task its own arguments
            client.send("task-sent", uuid=task_id, **dict(TEMPLATES["task-sent"], args=args))
            worker.send("task-received", uuid=task_id, **dict(TEMPLATES["task-received"], args=args))
            for kind in ("task-started", "task-succeeded"):
                worker.send(kind, uuid=task_id, **TEMPLATES[kind])
            now = time.perf_counter()
            if now - last_hb >= 2.0:
                worker.send("worker-heartbeat", freq=2.0, sw_ident="py-celery", sw_ver="5.7.0",
                            sw_sys="Linux", active=1, processed=i, loadavg=[0.5, 0.4, 0.3])
                last_hb = now
        worker.flush()
        print(json.dumps({"seconds": time.perf_counter() - t0}))


def _redis_cpu_s(client) -> float:
    """CPU seconds the Redis server has used (INFO cpu: user + sys)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# -- consumers ---------------------------------------------------------------------------------------
def consume_ours(url: str, expected_tasks: int, backlog: bool, writer_process: bool = True,
                 history_url: str | None = None, app_name: str = "console") -> None:
    import redis

    from app.monitor import events
    from app.store import history
    from config.settings import Settings

    history_url = history_url or url
    settings = Settings(REDIS_URL=history_url, HISTORY_MAX_TASKS=10_000_000)
    store = events.IngestWriter(settings, writer_process=writer_process)
    client = redis.Redis.from_url(history_url, decode_responses=True)
    stats = {"first": None, "events": 0, "finished": 0}
    ingester = events.Ingester(_app(url), client, store.put, node_id=f"bench-{uuid.uuid4().hex[:6]}",
                               enable_events=False, inspect_workers=False, app_name=app_name)
    handle = ingester.on_event

    def on_event(event):
        if stats["first"] is None:
            stats["first"] = time.perf_counter()
            stats["first_wall"] = time.time()
            stats["cpu0"] = time.process_time()
            stats["redis_cpu0"] = _redis_cpu_s(client)
        stats["events"] += 1
        handle(event)
        if event.get("type") == "task-succeeded":
            stats["finished"] += 1
            if stats["finished"] >= expected_tasks:
                ingester.stop()

    hold = _Hold(client, backlog)

    def maybe_probe(event):
        if not hold.probe(event):
            on_event(event)

    ingester.on_event = maybe_probe
    ingester.run()
    store.flush(timeout_s=600)
    seconds = time.perf_counter() - stats["first"]
    batch = store.writer
    # the writer process's CPU (all of it spent on these events: it idles before the first one)
    writer_cpu_s = batch.cpu_s
    cpu_s = time.process_time() - stats["cpu0"] + (writer_cpu_s if batch.SEPARATE_PROCESS else 0.0)
    redis_cpu_s = _redis_cpu_s(client) - stats["redis_cpu0"]
    counts = history.count_by_state(client)
    print(json.dumps({"events": stats["events"], "seconds": seconds, "success": counts["SUCCESS"],
                      "first_wall": stats["first_wall"], "last_wall": time.time(),
                      "cpu_s": cpu_s, "redis_cpu_s": redis_cpu_s, "writer_cpu_s": writer_cpu_s}))


def consume_flower(url: str, expected_tasks: int, backlog: bool, control_url: str | None = None) -> None:
    import redis
    from flower.events import EventsState

    state = EventsState(max_tasks_in_memory=10_000_000)
    r = redis.Redis.from_url(control_url or url)
    stats = {"first": None, "events": 0, "finished": 0}
    app = _app(url)
    with app.connection_for_read() as conn:
        recv = app.events.Receiver(conn, handlers={"*": None})

        hold = _Hold(r, backlog)

        def on_event(event):
            if hold.probe(event):
                return
            if stats["first"] is None:
                stats["first"] = time.perf_counter()
                stats["first_wall"] = time.time()
                stats["cpu0"] = time.process_time()
            stats["events"] += 1
            state.event(event)
            if event.get("type") == "task-succeeded":
                stats["finished"] += 1
                if stats["finished"] >= expected_tasks:
                    recv.should_stop = True

        recv.handlers["*"] = on_event
        recv.capture(limit=None, timeout=None, wakeup=False)
    seconds = time.perf_counter() - stats["first"]
    print(json.dumps({"events": stats["events"], "seconds": seconds, "tasks": len(state.tasks),
                      "cpu_s": time.process_time() - stats["cpu0"], "first_wall": stats["first_wall"],
                      "last_wall": time.time()}))


# -- driver ------------------------------------------------------------------------------------------
def _spawn(*args, env):
    return subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(proc, timeout_s=900):
    out, err = proc.communicate(timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(err[-3000:])
    return json.loads(out.strip().splitlines()[-1])


def _probe_until_ready(url: str | list[str], r, consumers: int) -> None:
    apps = [_app(u) for u in ([url] if isinstance(url, str) else url)]
    conns = [a.connection_for_write() for a in apps]
    try:
        probes = [a.events.Dispatcher(c, hostname=PROBE_HOST, enabled=True) for a, c in zip(apps, conns)]
        deadline = time.time() + 120
        while int(r.get(READY_KEY) or 0) < consumers:
            if time.time() > deadline:
                raise RuntimeError("consumers did not subscribe")
            for probe in probes:
                probe.send("worker-heartbeat", freq=2.0)
            time.sleep(0.05)
    finally:
        for c in conns:
            c.release()


def ingest_round(url: str, publishers: int, tasks: int, env, backlog: bool) -> dict:
    import redis

    r = redis.Redis.from_url(url)
    r.flushall()
    per = tasks // publishers
    total_tasks = per * publishers
    flag = ["--backlog"] if backlog else []
    ours = _spawn("--consume", "ours", "--url", url, "--tasks", str(total_tasks), *flag, env=env)
    flower = _spawn("--consume", "flower", "--url", url, "--tasks", str(total_tasks), *flag, env=env)
    pubs = [_spawn("--publish", str(i), "--url", url, "--tasks", str(per), env=env) for i in range(publishers)]
    _probe_until_ready(url, r, 2)
    time.sleep(0.5)  # publishers imported and connected
    r.set(GO_KEY, 1)
    pub = [_result(p) for p in pubs]
    r.set(CONSUME_KEY, 1)
    mine, theirs = _result(ours), _result(flower)
    events = total_tasks * 4
    return {"publishers": publishers, "events": events, "publish_s": max(p["seconds"] for p in pub),
            "ours_events": mine["events"], "ours_s": mine["seconds"], "ours_success": mine["success"],
            "flower_events": theirs["events"], "flower_s": theirs["seconds"], "flower_tasks": theirs["tasks"],
            "ours_cpu_s": mine.get("cpu_s"), "ours_redis_cpu_s": mine.get("redis_cpu_s"),
            "flower_cpu_s": theirs.get("cpu_s")}


def apps_round(urls: list[str], history_url: str, publishers: int, tasks: int, env) -> dict:
    """Backlog round over len(`urls`) apps, each on its own broker: `publishers` publisher processes
    spread over the brokers (the same total for any number of apps), one ingester per app (each
    with its writer process, all writing one history on `history_url`, the first broker's server)
    and one Flower EventsState per broker (Flower watches one broker). Aggregate rates: all events
    over the span from the first event any consumer read to the last one's end."""
    import redis

    for u in {*urls, history_url}:
        redis.Redis.from_url(u).flushall()
    control = redis.Redis.from_url(history_url)
    n = len(urls)
    per = tasks // publishers
    total_tasks = per * publishers
    share = [sum(1 for i in range(publishers) if i % n == a) * per for a in range(n)]
    ours = [_spawn("--consume", "ours", "--url", u, "--history-url", history_url, "--app-name", f"app{a}",
                   "--tasks", str(share[a]), "--backlog", env=env)  # its readiness keys: on the history server
            for a, u in enumerate(urls)]
    flower = [_spawn("--consume", "flower", "--url", u, "--control-url", history_url, "--tasks", str(share[a]),
                     "--backlog", env=env) for a, u in enumerate(urls)]
    pubs = [_spawn("--publish", str(i), "--url", urls[i % n], "--control-url", history_url, "--tasks", str(per),
                   env=env) for i in range(publishers)]
    _probe_until_ready(urls, control, 2 * n)
    time.sleep(0.5)
    control.set(GO_KEY, 1)
    [_result(p) for p in pubs]
    control.set(CONSUME_KEY, 1)
    mine, theirs = [_result(p) for p in ours], [_result(p) for p in flower]
    span = lambda rows: max(r["last_wall"] for r in rows) - min(r["first_wall"] for r in rows)  # noqa: E731
    from app.store import keys

    success = redis.Redis.from_url(history_url, decode_responses=True).zcard(keys.TASKS_ALL)
    return {"apps": n, "publishers": publishers, "events": total_tasks * 4, "ours_s": span(mine),
            "flower_s": span(theirs), "history_tasks": success}


def lag_round(url: str, tasks: int, env) -> dict:
    """A 2-process prefork no-op worker (events on) vs the ingester recording it."""
    import redis

    r = redis.Redis.from_url(url, decode_responses=True)
    r.flushall()
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bench.noop_raw:app", "worker", "-E",
                               "-P", "prefork", "-c", "2", "-Q", "bench_q", "--without-mingle",
                               "--without-gossip", "--loglevel", "WARNING"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ingester = subprocess.Popen([sys.executable, "-m", "app.monitor.events", "--broker", url, "--no-enable-events",
                                 "--node-id", "bench-lag", "--loglevel", "WARNING"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from bench.noop_raw import noop

        noop.app.conf.broker_url = noop.app.conf.result_backend = url
        noop.delay(-1).get(timeout=120)  # worker up
        time.sleep(1.0)  # ingester subscribed (its own start is not what is measured)
        from app.store import keys

        t0 = time.perf_counter()
        results = [noop.delay(i) for i in range(tasks)]
        for res in results:
            res.get(timeout=600)
        worker_s = time.perf_counter() - t0
        ids = [res.id for res in results]
        while True:
            pipe = r.pipeline(transaction=False)
            for task_id in ids:
                pipe.hget(keys.task(task_id), "state")
            if all(s == "SUCCESS" for s in pipe.execute()):
                break
            if time.perf_counter() - t0 > worker_s + 120:
                raise RuntimeError("the history did not catch up within 120 s")
            time.sleep(0.01)
        lag_s = time.perf_counter() - t0 - worker_s
    finally:
        for proc in (worker, ingester):
            proc.terminate()
            proc.wait(60)
    return {"tasks": tasks, "worker_s": worker_s, "lag_s": lag_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20_000, help="tasks per ingest round (4 events each)")
    ap.add_argument("--publishers", default="1,4,16")
    ap.add_argument("--lag-tasks", type=int, default=2_000)
    ap.add_argument("--publish")
    ap.add_argument("--consume", choices=["ours", "flower"])
    ap.add_argument("--url")
    ap.add_argument("--backlog", action="store_true")
    ap.add_argument("--only-lag", action="store_true", help="skip the ingest rounds")
    ap.add_argument("--apps", help="comma-separated app counts (e.g. 1,3): backlog rounds with that many apps, "
                                   "each on its own broker server, the same publishers; nothing else runs")
    ap.add_argument("--history-url")
    ap.add_argument("--control-url")
    ap.add_argument("--app-name", default="console")
    args = ap.parse_args()
    if args.publish is not None:
        return publish(args.url, int(args.publish), args.tasks, args.control_url)
    if args.consume == "ours":
        return consume_ours(args.url, args.tasks, args.backlog, history_url=args.history_url, app_name=args.app_name)
    if args.consume == "flower":
        return consume_flower(args.url, args.tasks, args.backlog, args.control_url)
    if args.apps:
        return main_apps([int(x) for x in args.apps.split(",")], args.tasks,
                         int(args.publishers.split(",")[-1]) if "," in args.publishers else int(args.publishers))

    import redis

    from app.launcher import redis_server

    tmp = tempfile.mkdtemp(prefix="bench-events-")
    port = redis_server.free_port()
    proc = redis_server.start(port, Path(tmp) / "redis", persist=False)
    url = f"redis://127.0.0.1:{port}/0"
    redis.Redis.from_url(url).config_set("client-output-buffer-limit", "pubsub 0 0 0")
    os.environ["REDIS_URL"] = url
    env = dict(os.environ, REDIS_URL=url, DATA_DIR=tmp, PYTHONPATH=str(ROOT))
    rows = []
    try:
        print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
        print(f"{'mode':>8} {'publishers':>10} {'events':>8} {'published/s':>12} {'ours events/s':>14} "
              f"{'Flower events/s':>16} {'ours/Flower':>11} {'history SUCCESS':>16} {'ours ev/CPU-s':>14} "
              f"{'+Redis ev/CPU-s':>16} {'Flower ev/CPU-s':>16}", flush=True)
        for backlog in () if args.only_lag else (False, True):
            for p in [int(x) for x in args.publishers.split(",")]:
                row = ingest_round(url, p, args.tasks, env, backlog)
                row["mode"] = "backlog" if backlog else "live"
                rows.append(row)
                ours, theirs = row["events"] / row["ours_s"], row["events"] / row["flower_s"]
                print(f"{row['mode']:>8} {p:>10} {row['events']:>8} {row['events'] / row['publish_s']:>12,.0f} "
                      f"{ours:>14,.0f} {theirs:>16,.0f} {ours / theirs:>11.2f} {row['ours_success']:>16} "
                      f"{row['events'] / row['ours_cpu_s']:>14,.0f} "
                      f"{row['events'] / (row['ours_cpu_s'] + row['ours_redis_cpu_s']):>16,.0f} "
                      f"{row['events'] / row['flower_cpu_s']:>16,.0f}", flush=True)
        lag = lag_round(url, args.lag_tasks, env)
        rate = lag["tasks"] / lag["worker_s"]
        print(f"\n2-process prefork no-op worker: {lag['tasks']} tasks in {lag['worker_s']:.2f} s = {rate:,.0f} tasks/s "
              f"= {4 * rate:,.0f} events/s; history complete {lag['lag_s'] * 1000:.0f} ms after the last result")
        if rows:
            best = max(r["events"] / r["ours_s"] for r in rows)
            print(f"best ingest {best:,.0f} events/s (target >= 20,000); "
                  f"{best / (4 * rate):.1f}x the worker's event rate")
    finally:
        proc.terminate()
        proc.wait(30)


def main_apps(counts: list[int], tasks: int, publishers: int) -> None:
    """`--apps`: the same publishers and tasks over 1..N apps on separate broker servers."""
    import redis

    from app.launcher import redis_server

    tmp = tempfile.mkdtemp(prefix="bench-events-apps-")
    procs, urls = [], []
    try:
        for i in range(max(counts)):
            port = redis_server.free_port()
            procs.append(redis_server.start(port, Path(tmp) / f"redis{i}", persist=False))
            urls.append(f"redis://127.0.0.1:{port}/0")
            redis.Redis.from_url(urls[-1]).config_set("client-output-buffer-limit", "pubsub 0 0 0")
        env = dict(os.environ, REDIS_URL=urls[0], DATA_DIR=tmp, PYTHONPATH=str(ROOT))
        print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores); {publishers} publishers, "
              f"{tasks} tasks, backlog rounds")
        print(f"{'apps':>5} {'events':>8} {'ours events/s':>14} {'Flower events/s':>16} {'ours/Flower':>11} "
              f"{'vs 1 app':>9} {'history tasks':>14}", flush=True)
        base = None
        for n in counts:
            row = apps_round(urls[:n], urls[0], publishers, tasks, env)
            ours, theirs = row["events"] / row["ours_s"], row["events"] / row["flower_s"]
            base = base or ours
            print(f"{n:>5} {row['events']:>8} {ours:>14,.0f} {theirs:>16,.0f} {ours / theirs:>11.2f} "
                  f"{ours / base:>9.2f} {row['history_tasks']:>14}", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
