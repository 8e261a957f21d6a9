"""Benchmark: scale-out on Redis and on RabbitMQ, each next to raw Celery on the same broker.

Run: ``.venv/bin/python bench/bench_scale.py [--tasks 400] [--docs 60] [--procs 1,2,4]``

1. Throughput. For each broker (a private valkey-server; a private RabbitMQ node), each worker size
   (prefork, 1/2/4 processes) and each side (raw Celery from bench/noop_raw.py; the console's
   `celery_app` with its history recorder, heartbeat and file store from bench/noop_console.py), a
   real worker subprocess runs (a) `--tasks` no-ops and (b) `--docs` small .docx jobs (raw: a
   python-docx word count; console: process_word_document with count_stats on a stored upload),
   published from a separate process, timed from the first publish to the last result. Prints
   tasks/s per side and the ratio console/raw (target >= 0.9).
2. Monitor snapshot with `--queues` queues x `--workers` workers (heartbeats in the store) on each
   broker: p50/p95 of `app.monitor.snapshot.take` (what the Task Monitor header reads every 2 s),
   with 10 and with 1,000 messages per queue, next to the raw broker read of the same counts (one
   LLEN pipeline; one management API GET; one passive queue.declare per queue). Targets: <= 10 ms
   on Redis, <= 50 ms on RabbitMQ with the management API, not growing with message count.
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
def publish(mode: str, n_tasks: int, n_docs: int, doc_path: str) -> dict:
    module = __import__(f"bench.noop_{mode}", fromlist=["app", "noop"])
    app, noop = module.app, module.noop
    noop.delay(-1).get(timeout=120)  # warm: worker up, connections open
    t0 = time.perf_counter()
    results = [noop.delay(i) for i in range(n_tasks)]
    for r in results:
        r.get(timeout=600)
    noop_s = time.perf_counter() - t0
    if mode == "raw":
        send = lambda: module.doc_words.delay(doc_path)  # noqa: E731
    else:
        send = lambda: app.send_task("app.tasks.file_tasks.process_word_document",  # noqa: E731
                                     args=[doc_path, ["count_stats"]], queue="bench_q")
    send().get(timeout=120)
    t0 = time.perf_counter()
    results = [send() for _ in range(n_docs)]
    for r in results:
        r.get(timeout=600)
    return {"noop_s": noop_s, "doc_s": time.perf_counter() - t0}


def run_side(mode: str, procs: int, env: dict, args) -> dict:
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", f"bench.noop_{mode}:app", "worker",
                               "-P", "prefork", "-c", str(procs), "-Q", "bench_q", "--without-mingle",
                               "--without-gossip", "--loglevel", "WARNING"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = subprocess.run([sys.executable, __file__, "--publish", mode, "--tasks", str(args.tasks),
                              "--docs", str(args.docs), "--doc-path", env["BENCH_DOC"]], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        worker.terminate()
        worker.wait(60)


# -- monitor snapshot -----------------------------------------------------------------------------
def _percentiles(fn, n: int = 50) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def snapshot_bench(store_url: str, broker_url: str, management_url: str | None, kind: str, n_queues: int,
                   n_workers: int, wait_stats_s: float) -> list[str]:
    import kombu

    from app.monitor import brokers, snapshot
    from app.store import keys
    from app.store.clients import redis_from_url

    client = redis_from_url(store_url)
    queues = [f"scale_q{i:02d}" for i in range(n_queues)]
    now = time.time()
    for w in range(n_workers):
        host = f"bench{w:02d}@scale"
        client.hset(keys.worker(host), mapping={
            "hostname": host, "pid": str(1000 + w), "pool": "prefork", "concurrency": "4",
            "queues": json.dumps(queues[w % n_queues::n_workers] or queues[:1]), "active": "[]", "reserved": "0",
            "processed": "0", "processed_by_name": "{}", "loadavg": "[0.1, 0.1, 0.1]", "heartbeat_s": "2",
            "last_heartbeat": str(now), "status": "online"})
        client.zadd(keys.WORKERS, {host: now + 3600})
    lines = []
    exchange = kombu.Exchange("tasks", type="direct")
    filled = 0
    with kombu.Connection(broker_url) as conn:
        producer = conn.Producer()
        kq = [kombu.Queue(q, exchange, routing_key=q, queue_arguments={"x-max-priority": 10}) for q in queues]
        for q in kq:
            q(conn.default_channel).declare()
        for per_queue in (10, 1000):
            body = {"noop": True}
            for q in queues:
                for _ in range(per_queue - filled):
                    producer.publish(body, exchange=exchange, routing_key=q, headers={"id": "x"},
                                     timestamp=int(time.time()))
            filled = per_queue
            variants = [("AMQP only" if kind == "amqp" else "", brokers.from_url(broker_url))]
            if management_url:
                variants.insert(0, ("management API", brokers.from_url(broker_url, management_url)))
                time.sleep(wait_stats_s)  # let the management API's figures catch up
            for label, broker in variants:
                p50, p95 = _percentiles(lambda: snapshot.take(client, broker, queues))
                raw50, _ = _percentiles(lambda: _raw_read(kind, label, broker, queues))
                name = f"{kind}{' (' + label + ')' if label else ''}"
                lines.append(f"{name:<28} {per_queue:>6} msg/queue  snapshot p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                             f"raw broker read p50 {raw50:6.2f} ms  ratio {p50 / raw50:4.1f}x")
                print(lines[-1], flush=True)
                broker.close()
        for q in queues:
            conn.default_channel.queue_delete(q) if kind == "amqp" else None
    if kind == "redis":
        client.delete(*queues)
    client.close()
    return lines


def _raw_read(kind: str, label: str, broker, queues):
    from app.monitor.brokers.redis import RedisBroker

    if isinstance(broker, RedisBroker):
        pipe = broker.client.pipeline(transaction=False)
        for q in queues:
            for name in (q, *(f"{q}\x06\x16{s}" for s in (3, 6, 9))):
                pipe.llen(name)
        return pipe.execute()
    if label == "management API":
        return broker.management.client.get(f"/api/queues/%2F", params={"columns": "name,messages_ready"}).json()
    return broker.passive_counts(queues)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=400)
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--procs", default="1,2,4")
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--brokers", default="redis,amqp")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--publish", choices=["raw", "console"])
    ap.add_argument("--doc-path")
    args = ap.parse_args()
    if args.publish:
        print(json.dumps(publish(args.publish, args.tasks, args.docs, args.doc_path)))
        return
    from app.launcher import rabbitmq_server, redis_server

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    port = redis_server.free_port()
    redis_proc = redis_server.start(port, tmp / "redis", persist=False)
    store_url = f"redis://127.0.0.1:{port}/0"
    node = rabbitmq_server.start(tmp / "rabbit") if "amqp" in args.brokers else None
    data_dir = tmp / "data"
    (data_dir / "uploads").mkdir(parents=True)
    from app.services.documents.samples import make_sample_docx

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
                    for mode in ("raw", "console"):
                        r = run_side(mode, procs, env, args)
                        results[(kind, procs, mode)] = r
                        print(f"{kind:>5} x{procs} {mode:>7}: no-op {args.tasks / r['noop_s']:6.0f} tasks/s, "
                              f"small .docx {args.docs / r['doc_s']:5.1f} docs/s", flush=True)
                    raw, ours = results[(kind, procs, "raw")], results[(kind, procs, "console")]
                    summary.append(
                        f"{kind:>5} {procs} proc: no-op raw {args.tasks / raw['noop_s']:5.0f}/s console "
                        f"{args.tasks / ours['noop_s']:5.0f}/s ratio {raw['noop_s'] / ours['noop_s']:.2f} | .docx raw "
                        f"{args.docs / raw['doc_s']:5.1f}/s console {args.docs / ours['doc_s']:5.1f}/s ratio "
                        f"{raw['doc_s'] / ours['doc_s']:.2f}")
        print(f"\nmonitor snapshot, {args.queues} queues x {args.workers} workers:", flush=True)
        snap_lines = []
        for kind in args.brokers.split(","):
            snap_lines += snapshot_bench(store_url, broker_urls[kind], node.management_url if kind == "amqp" else None,
                                         kind, args.queues, args.workers, wait_stats_s=7.0)
    finally:
        if node:
            node.stop(graceful=False)
        redis_proc.terminate()
        redis_proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nthroughput (target: console / raw >= 0.9 on both brokers):")
    for line in summary:
        print(line)
    print(f"\nsnapshot (targets: <= 10 ms Redis, <= 50 ms RabbitMQ management API, flat in message count):")
    for line in snap_lines:
        print(line)


if __name__ == "__main__":
    main()
