"""Benchmark: scale-out on Redis and on RabbitMQ, each next to raw Celery on the same broker.

Run: ``.venv/bin/python bench/bench_scale.py [--tasks 400] [--docs 60] [--procs 1,2,4]``

1. Throughput. For each broker (a private valkey-server; a private RabbitMQ node), each worker size
   (prefork, 1/2/4 processes) and each side (raw Celery from bench/noop_raw.py; the console's
   `celery_app` with its history recorder, heartbeat and file store from bench/noop_console.py), a
   real worker subprocess runs (a) `--tasks` no-ops and (b) `--docs` small .docx jobs (the same
   document work on both sides — file-type and archive guards, then count_stats — raw: a plain task
   calling `app.documents.registry.run`; console: process_word_document, which adds the
   task base, per-task file store, progress reports and history),
   published from a separate process, timed from the first publish to the last result;
   `--tp-rounds` rounds with the sides alternating first. Prints per side the median tasks/s, the
   median of the per-round ratios console/raw, and the ratio of CPU per task raw/console (publisher +
   worker with its pool; the broker's CPU not included) — the throughput ratio on an otherwise idle
   machine, and the figure that holds on a loaded one (target >= 0.9).
2. Monitor snapshot with `--queues` queues x `--workers` workers (heartbeats in the store) on each
   broker, at each total of `--messages` waiting (default 0 and 100,000, spread over the queues and
   over the priority lists / priorities): p50/p95 wall time and CPU time of
   `app.monitor.snapshot.take` (what the Task Monitor header reads every 2 s), `--rounds`
   interleaved rounds next to the raw broker read of the same counts in the same run (Redis: a
   redis-py LLEN pipeline over every priority list; RabbitMQ: one bare GET of the management API's
   totals with http.client, and the stats-path GET the console used before; AMQP only: one passive
   queue.declare per queue), and the ratio. Before timing, every read is polled until it sees all
   the messages. Targets: <= 10 ms on Redis, <= 50 ms on RabbitMQ with the management API, not
   growing with message count (the last lines print p50 at the most messages / p50 at the fewest).

Snapshot only: ``.venv/bin/python bench/bench_scale.py --skip-throughput [--messages 0,100000]``
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# -- publisher (runs in its own process, one side) ------------------------------------------------
def publish(mode: str, n_tasks: int, n_docs: int, doc_path: str, worker_pid: int = 0) -> dict:
    """Send the no-ops, then the .docx jobs, waiting for every result. Returns seconds and CPU
    seconds (this publisher + the worker and its pool; the broker's own CPU is not included) of
    each phase."""
    from bench.bench_throughput import tree_cpu_s

    module = __import__(f"bench.noop_{mode}", fromlist=["app", "noop"])
    app, noop = module.app, module.noop
    noop.delay(-1).get(timeout=120)  # warm: worker up, connections open
    cpu = lambda: time.process_time() + (tree_cpu_s(worker_pid) if worker_pid else 0.0)  # noqa: E731
    c0, t0 = cpu(), time.perf_counter()
    results = [noop.delay(i) for i in range(n_tasks)]
    for r in results:
        r.get(timeout=600)
    noop_s, noop_cpu = time.perf_counter() - t0, cpu() - c0
    if mode == "raw":
        send = lambda: module.doc_stats.delay(doc_path)  # noqa: E731
    else:
        send = lambda: app.send_task("app.tasks.file_tasks.process_word_document",  # noqa: E731
                                     args=[doc_path, ["count_stats"]], queue="bench_q")
    send().get(timeout=120)
    c0, t0 = cpu(), time.perf_counter()
    results = [send() for _ in range(n_docs)]
    for r in results:
        r.get(timeout=600)
    return {"noop_s": noop_s, "noop_cpu_s": noop_cpu, "doc_s": time.perf_counter() - t0, "doc_cpu_s": cpu() - c0}


def run_side(mode: str, procs: int, env: dict, args) -> dict:
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", f"bench.noop_{mode}:app", "worker",
                               "-P", "prefork", "-c", str(procs), "-Q", "bench_q", "--without-mingle",
                               "--without-gossip", "--loglevel", "WARNING"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = subprocess.run([sys.executable, __file__, "--publish", mode, "--tasks", str(args.tasks),
                              "--docs", str(args.docs), "--doc-path", env["BENCH_DOC"],
                              "--worker-pid", str(worker.pid)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        worker.terminate()
        worker.wait(60)


def _throughput_line(kind: str, procs: int, runs: dict[str, list[dict]], args) -> str:
    """Medians of each side's rates, the median of the per-round ratios (a round runs both sides
    back to back, so they share its load) and the CPU-per-task ratio (raw / console: what the
    throughput ratio is on an otherwise idle machine, every side being CPU-bound)."""
    med = statistics.median
    out = [f"{kind:>5} {procs} proc:"]
    for label, n, t, c in (("no-op", args.tasks, "noop_s", "noop_cpu_s"), (".docx", args.docs, "doc_s", "doc_cpu_s")):
        raw, ours = runs["raw"], runs["console"]
        paired = med([r[t] / o[t] for r, o in zip(raw, ours)])
        cpu = med([r[c] for r in raw]) / med([o[c] for o in ours])
        out.append(f"{label} raw {med([n / r[t] for r in raw]):6.1f}/s console {med([n / o[t] for o in ours]):6.1f}/s "
                   f"paired ratio {paired:.2f} CPU ratio {cpu:.2f} |")
    return " ".join(out).rstrip(" |")


# -- monitor snapshot -----------------------------------------------------------------------------
def _interleaved(fns: dict, rounds: int) -> dict[str, dict]:
    """Time each of `fns` once per round, in turn (the order rotates each round, so the machine's
    load hits every side alike); per name: p50/p95 wall ms and p50 CPU ms of this process."""
    names = list(fns)
    for fn in fns.values():
        fn()  # warm: connections open, scripts loaded
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            c0, t0 = time.process_time(), time.perf_counter()
            fns[n]()
            wall[n].append((time.perf_counter() - t0) * 1000)
            cpu[n].append((time.process_time() - c0) * 1000)
    out = {}
    for n in names:
        w = sorted(wall[n])
        out[n] = {"p50": statistics.median(w), "p95": w[max(0, int(len(w) * 0.95) - 1)],
                  "cpu": statistics.median(cpu[n])}
    return out


def _seed_workers(client, queues: list[str], n_workers: int) -> None:
    """`n_workers` heartbeat records in the store, each consuming a share of `queues`."""
    from app.store import keys

    now = time.time()
    for w in range(n_workers):
        host = f"bench{w:02d}@scale"
        client.hset(keys.worker(host), mapping={
            "hostname": host, "pid": str(1000 + w), "pool": "prefork", "concurrency": "4",
            "queues": json.dumps(queues[w % len(queues)::n_workers] or queues[:1]), "active": "[]",
            "reserved": "0", "processed": "0", "processed_by_name": "{}", "loadavg": "[0.1, 0.1, 0.1]",
            "heartbeat_s": "2", "last_heartbeat": str(now), "status": "online"})
        client.zadd(keys.WORKERS, {host: now + 3600})


def _fill_redis(broker_url: str, client, queues: list[str], per_queue: int) -> None:
    """Bring every queue to `per_queue` ready messages: kombu publishes one real task message per
    priority step (so every priority list exists), then copies of those exact bytes are LPUSHed
    in pipelines of 1,000 (what kombu's Redis transport does per publish, without its per-call cost)."""
    import kombu

    from app.store import keys

    have = {q: sum(client.llen(n) for n in keys.priority_lists(q)) for q in queues}
    with kombu.Connection(broker_url) as conn:
        producer = conn.Producer()
        for q in queues:
            for priority in (0, 3, 6, 9)[:max(0, per_queue - have[q])]:
                producer.publish({"noop": True}, routing_key=q, priority=priority,
                                 headers={"id": "x", "cc_sent_at": str(time.time())}, declare=[kombu.Queue(q)])
    for q in queues:
        lists = keys.priority_lists(q)
        need = per_queue - sum(client.llen(n) for n in lists)
        sample = {n: client.lindex(n, 0) for n in lists}
        pipe = client.pipeline(transaction=False)
        for i in range(max(0, need)):
            name = lists[i % len(lists)]
            pipe.lpush(name, sample[name] or next(m for m in sample.values() if m))
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()


def _fill_amqp(conn, queues: list[str], per_queue: int) -> None:
    """Declare `queues` (x-max-priority 10, bound to a direct exchange) and publish `per_queue`
    messages to each (py-amqp basic_publish on kombu's channel, with the ``timestamp`` property the
    console sets and priorities 0-9)."""
    import amqp
    import kombu

    exchange = kombu.Exchange("tasks", type="direct")
    channel = conn.default_channel
    for q in queues:
        kombu.Queue(q, exchange, routing_key=q, queue_arguments={"x-max-priority": 10})(channel).declare()
        for i in range(per_queue):
            channel.basic_publish(amqp.Message(b'{"noop": true}', timestamp=int(time.time()), priority=i % 10,
                                               application_headers={"id": "x"}, content_type="application/json"),
                                  exchange="tasks", routing_key=q)


def _vhost(management_url: str, name: str) -> None:
    """Create vhost `name` with full permissions for the URL's user (management API)."""
    import httpx
    from urllib.parse import urlsplit

    parts = urlsplit(management_url)
    with httpx.Client(base_url=f"http://{parts.hostname}:{parts.port}", auth=(parts.username, parts.password)) as c:
        c.put(f"/api/vhosts/{name}").raise_for_status()
        c.put(f"/api/permissions/{name}/{parts.username}",
              json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()


def snapshot_bench(store_url: str, broker_url: str, management_url: str | None, kind: str, n_queues: int,
                   n_workers: int, n_messages: int, rounds: int) -> list[str]:
    """Snapshot timings on one broker: a set of `n_queues` empty queues and a set holding
    `n_messages` in all (RabbitMQ: each set in a vhost of its own, as the management API lists a
    whole vhost), timed in the same interleaved rounds so the machine's load hits both alike."""
    import kombu

    from app.monitor import brokers, snapshot
    from app.store import keys
    from app.store.clients import redis_from_url
    from tests.conftest import wait_for

    client = redis_from_url(store_url)
    sets = {0: ("scale_e", broker_url), n_messages: ("scale_f", broker_url)}
    if kind == "amqp":
        _vhost(management_url, "bench_full")
        sets[n_messages] = ("scale_f", broker_url.rstrip("/") + "/bench_full")
    fns: dict = {}
    to_close: list = []
    fill_s = {}
    _seed_workers(client, [f"{prefix}{i:02d}" for prefix, _ in sets.values() for i in range(n_queues)], n_workers)
    try:
        for count, (prefix, url) in sets.items():
            queues = [f"{prefix}{i:02d}" for i in range(n_queues)]
            variants = [("", brokers.from_url(url))]
            if kind == "amqp":
                variants = [("management API", brokers.from_url(url, management_url)), ("AMQP only", variants[0][1])]
            to_close += [b for _, b in variants]
            t0 = time.perf_counter()
            if kind == "redis":
                _fill_redis(url, variants[0][1].client, queues, count // n_queues)
            else:
                conn = kombu.Connection(url)
                to_close.append(conn)
                _fill_amqp(conn, queues, count // n_queues)
            # every read under test must see all the messages before it is timed (poll, don't sleep)
            for _, broker in variants:
                wait_for(lambda b=broker: b.depths(queues).total_ready == count // n_queues * n_queues, timeout_s=120)
            fill_s[count] = time.perf_counter() - t0
            for label, broker in variants:
                fns[(label, count, "snapshot")] = lambda b=broker, qs=queues: snapshot.take(client, b, qs)
                fns[(label, count, "raw")] = lambda b=broker, qs=queues, lb=label: _raw_read(lb, b, qs, management_url)
                if label == "management API":
                    fns[(label, count, "stats path")] = lambda b=broker: b.management.queues()
        got = _interleaved(fns, rounds)
    finally:
        for count, (prefix, url) in sets.items():
            queues = [f"{prefix}{i:02d}" for i in range(n_queues)]
            if kind == "redis":
                client.delete(*[n for q in queues for n in keys.priority_lists(q)])
            else:
                with kombu.Connection(url) as conn:
                    for q in queues:
                        conn.default_channel.queue_delete(q)
        for thing in to_close:
            thing.close()
        client.close()
    lines = []
    for label in dict.fromkeys(k[0] for k in fns):
        name = f"{kind}{' (' + label + ')' if label else ''}"
        for count in sets:
            snap, raw = got[(label, count, "snapshot")], got[(label, count, "raw")]
            line = (f"{name:<26} {count:>7} msgs  snapshot p50 {snap['p50']:6.2f} ms  p95 {snap['p95']:6.2f} ms  "
                    f"cpu {snap['cpu']:5.2f} ms | {RAW_LABEL[label or kind]} p50 {raw['p50']:6.2f} ms "
                    f"cpu {raw['cpu']:5.2f} ms | ratio {snap['p50'] / raw['p50']:4.2f}x")
            if (label, count, "stats path") in got:
                line += f" | stats-path GET p50 {got[(label, count, 'stats path')]['p50']:6.2f} ms"
            lines.append(line)
        full, empty = got[(label, n_messages, "snapshot")]["p50"], got[(label, 0, "snapshot")]["p50"]
        lines.append(f"{name:<26} snapshot p50 with {n_messages} msgs / with 0: {full / empty:.2f}")
    for line in lines:
        print(line, flush=True)
    print(f"(filled in {', '.join(f'{v:.1f} s' for v in fill_s.values())}; {rounds} interleaved rounds)", flush=True)
    return lines


#: What the raw broker read next to each snapshot is.
RAW_LABEL = {"redis": "raw LLEN pipeline", "management API": "bare GET (totals)",
             "AMQP only": "50 passive declares"}


def _raw_read(label: str, broker, queues, management_url: str | None):
    """The broker's own figures with no console code: a redis-py pipeline of LLEN over every
    priority list (Flower's way, and this console's before the script); one GET of the management
    API's totals on a kept-alive stdlib http.client connection; one passive queue.declare per queue."""
    from app.monitor.brokers.redis import RedisBroker

    if isinstance(broker, RedisBroker):
        pipe = broker.client.pipeline(transaction=False)
        for q in queues:
            for name in (q, *(f"{q}\x06\x16{s}" for s in (3, 6, 9))):
                pipe.llen(name)
        return pipe.execute()
    if label == "management API":
        return _bare_get(management_url, broker.management.path)
    return broker.passive_counts(queues)


_BARE: dict = {}


def _bare_get(management_url: str, path: str):
    """GET <path>?<totals> with http.client on one kept-alive connection per path."""
    import base64
    import http.client
    from urllib.parse import urlencode, urlsplit

    from app.monitor.brokers.amqp import TOTALS_PARAMS

    if path not in _BARE:
        parts = urlsplit(management_url)
        token = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
        _BARE[path] = (http.client.HTTPConnection(parts.hostname, parts.port), f"{path}?{urlencode(TOTALS_PARAMS)}",
                       f"Basic {token}")
    conn, full_path, auth = _BARE[path]
    conn.request("GET", full_path, headers={"Authorization": auth})
    return json.loads(conn.getresponse().read())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=400)
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--procs", default="1,2,4")
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--brokers", default="redis,amqp")
    ap.add_argument("--messages", type=int, default=100_000, help="messages waiting in the full set of queues")
    ap.add_argument("--rounds", type=int, default=100, help="interleaved snapshot rounds per step")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-snapshot", action="store_true")
    ap.add_argument("--publish", choices=["raw", "console"])
    ap.add_argument("--doc-path")
    ap.add_argument("--worker-pid", type=int, default=0)
    ap.add_argument("--tp-rounds", type=int, default=3, help="throughput rounds per broker and size (sides alternate)")
    args = ap.parse_args()
    if args.publish:
        print(json.dumps(publish(args.publish, args.tasks, args.docs, args.doc_path, args.worker_pid)))
        return
    from app.launcher import rabbitmq_server, redis_server

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    port = redis_server.free_port()
    redis_proc = redis_server.start(port, tmp / "redis", persist=False)
    store_url = f"redis://127.0.0.1:{port}/0"
    node = rabbitmq_server.start(tmp / "rabbit") if "amqp" in args.brokers else None
    data_dir = tmp / "data"
    (data_dir / "uploads").mkdir(parents=True)
    from app.documents.samples import make_sample_docx

    doc = make_sample_docx(data_dir / "uploads" / "bench.docx")  # one page: heading, paragraphs, a table
    broker_urls = {"redis": store_url, "amqp": node.amqp_url if node else ""}
    results: dict = {}
    summary: list[str] = []
    try:
        if not args.skip_throughput:
            for kind in args.brokers.split(","):
                env = dict(os.environ, REDIS_URL=store_url, CELERY_BROKER_URL=broker_urls[kind], DATA_DIR=str(data_dir),
                           PYTHONPATH=str(ROOT), BENCH_DOC=str(doc), WORKER_HEARTBEAT_S="2")
                for procs in (int(p) for p in args.procs.split(",")):
                    runs: dict[str, list[dict]] = {"raw": [], "console": []}
                    for rnd in range(args.tp_rounds):
                        for mode in (("raw", "console") if rnd % 2 == 0 else ("console", "raw")):
                            r = run_side(mode, procs, env, args)
                            runs[mode].append(r)
                            print(f"{kind:>5} x{procs} round {rnd + 1} {mode:>7}: no-op {args.tasks / r['noop_s']:6.0f} "
                                  f"tasks/s ({1000 * r['noop_cpu_s'] / args.tasks:.2f} ms CPU/task), small .docx "
                                  f"{args.docs / r['doc_s']:5.1f} docs/s ({1000 * r['doc_cpu_s'] / args.docs:.1f} ms "
                                  "CPU/doc)", flush=True)
                    results[(kind, procs)] = runs
                    summary.append(_throughput_line(kind, procs, runs, args))
        print(f"\nmonitor snapshot, {args.queues} queues x {args.workers} workers:", flush=True)
        snap_lines = []
        for kind in ([] if args.skip_snapshot else args.brokers.split(",")):
            snap_lines += snapshot_bench(store_url, broker_urls[kind], node.management_url if kind == "amqp" else None,
                                         kind, args.queues, args.workers,
                                         args.messages, args.rounds)
    finally:
        if node:
            node.stop(graceful=False)
        redis_proc.terminate()
        redis_proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nthroughput (target: console / raw >= 0.9 on both brokers):")
    for line in summary:
        print(line)
    print(f"\nsnapshot, {args.queues} queues x {args.workers} workers (targets: p50 <= 10 ms Redis, <= 50 ms "
          "RabbitMQ management API, flat in message count):")
    for line in snap_lines:
        print(line)


if __name__ == "__main__":
    main()
