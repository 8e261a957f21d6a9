"""Benchmark: the Task Monitor's history at 10k / 100k / 1M tasks vs. Flower's in-memory list.

Run: ``.venv/bin/python bench/bench_monitor.py [--max 1000000] [--skip-flower]``

In one run, on a private valkey-server (no persistence):
1. Fill the history through the recorder's own write path (`app.store.writer`: SENT then
   SUCCESS/FAILURE per task, merged and written by one script call per 500 tasks as the background
   writer does) up to each size, then measure (p50 / p95 over repeated calls):
   - task-list page of 50, no filter;
   - page of 50 with a filter (task name + state), one with queue + SUCCESS and one by worker
     (these have no index: checked on the walked tasks) and an args-text search;
   - the monitor snapshot (queues + workers + per-state counts + queue detail).
2. Console RSS: a separate process renders the Task Monitor page (Streamlit AppTest) three times
   against that Redis; its peak RSS (VmHWM) is reported.
3. Flower's own task-list query (flower.events.EventsState fed with task-received/succeeded
   events, then `search_engine.search(... sort_by='received', descending=True, limit=50)` as
   flower.views.tasks.TasksDataTable does) on the same number of tasks; ratio printed.
Targets: page <= 20 ms p50 at 1M and t(1M)/t(10k) <= 2; snapshot <= 10 ms;
console RSS <= 300 MB at 1M; Redis memory <= 1 KB per task at 1M.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.launcher import redis_server  # noqa: E402
from app.monitor import snapshot, workers  # noqa: E402
from app.monitor.brokers import redis_lists  # noqa: E402
from app.store import history  # noqa: E402
from app.store.clients import redis_from_url  # noqa: E402
from app.store.history import TaskFilter  # noqa: E402
from app.store import writer  # noqa: E402

QUEUES = ("email_queue", "file_processing_queue", "ai_queue", "reports_queue", "default_queue")
NAMES = [f"app.tasks.bench.task_{i}" for i in range(20)]
WORKERS = [f"w{i}@bench" for i in range(8)]


def timed(fn, repeat: int) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def fill(client, start: int, end: int, base: float) -> None:
    """Tasks [start, end): a SENT change (args, search words) and a final change each, written the
    way the recorder's background writer writes them (`writer._merge` + one script call per batch
    of 500 tasks)."""
    rnd = random.Random(start)
    batch = []
    for i in range(start, end):
        tid = str(uuid.UUID(int=rnd.getrandbits(128)))
        name, queue, worker = NAMES[i % len(NAMES)], QUEUES[i % len(QUEUES)], WORKERS[i % len(WORKERS)]
        now = base + i * 0.001
        args = f'["/data/uploads/file-{i}.docx", ["extract_text"]]'
        batch.append((tid, "SENT", {"sent_at": now, "args": args, "kwargs": "{}", "args_json": args, "kwargs_json": "{}"},
                      now, {"name": name, "queue": queue, "first_seen": True, "search_text": f"{args} {{}}"}))
        final = "FAILURE" if i % 17 == 0 else "SUCCESS"
        batch.append((tid, final, {"finished_at": now + 0.5, "runtime_s": 0.01 + (i % 100) / 200,
                                   "result": '{"status": "completed"}'}, now + 0.5, {"name": name, "worker": worker}))
        if len(batch) >= 1000:
            writer.write_batch(client, batch, retention_s=30 * 86_400, max_tasks=10_000_000)
            batch = []
    if batch:
        writer.write_batch(client, batch, retention_s=30 * 86_400, max_tasks=10_000_000)


def write_workers(client) -> None:
    for w in WORKERS:
        client.hset(f"cc:worker:{w}", mapping={"hostname": w, "status": "online", "queues": json.dumps(list(QUEUES)),
                                               "pool": "prefork", "concurrency": "4", "active": "[]",
                                               "last_heartbeat": str(time.time() + 3600)})
        client.zadd("cc:workers", {w: time.time() + 3600})


def console_rss_mb(redis_url: str, data_dir: str) -> float:
    code = (
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(ROOT / 'pages' / 'task_monitor.py')!r}, default_timeout=120)\n"
        "for _ in range(3):\n"
        "    at.run()\n"
        "    assert not at.exception, at.exception\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n")
    env = dict(os.environ, REDIS_URL=redis_url, DATA_DIR=data_dir)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return int(out.stdout.strip().splitlines()[-1]) / 1024


class FlowerState:
    """Flower's in-memory state with `n` tasks, fed through its own event handler."""

    def __init__(self):
        from flower.events import EventsState

        self.state = EventsState(max_tasks_in_memory=2_000_000)
        self.n = 0

    def grow(self, n: int, base: float) -> None:
        rnd = random.Random(n)
        for i in range(self.n, n):
            tid = str(uuid.UUID(int=rnd.getrandbits(128)))
            ts = base + i * 0.001
            host = WORKERS[i % len(WORKERS)]
            self.state.event({"type": "task-received", "uuid": tid, "name": NAMES[i % len(NAMES)],
                              "args": f"['/data/uploads/file-{i}.docx']", "kwargs": "{}", "retries": 0,
                              "hostname": host, "timestamp": ts, "local_received": ts, "clock": 2 * i})
            self.state.event({"type": "task-succeeded", "uuid": tid, "result": "'ok'", "runtime": 0.01,
                              "hostname": host, "timestamp": ts + 0.5, "local_received": ts + 0.5,
                              "clock": 2 * i + 1})
        self.n = n

    def page(self, **filters):
        st = self.state
        page = st.search_engine.search(st.tasks, "", sort_by="received", descending=True, offset=0, limit=50,
                                       **filters)
        task_map = getattr(st.tasks, "data", st.tasks)
        return [task_map.get(t) for t in page.task_ids]


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=1_000_000)
    ap.add_argument("--skip-flower", action="store_true")
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    sizes = [s for s in (10_000, 100_000, 1_000_000) if s <= args.max]

    tmp = tempfile.mkdtemp(prefix="bench-monitor-")
    port = redis_server.free_port()
    proc = redis_server.start(port, Path(tmp) / "redis", persist=False)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_from_url(url, socket_timeout_s=300)
    write_workers(client)
    flower = None if args.skip_flower else FlowerState()
    base = time.time() - 86_400
    rows, have = [], 0
    empty_bytes = int(client.info("memory")["used_memory"])
    try:
        for n in sizes:
            t0 = time.perf_counter()
            fill(client, have, n, base)
            fill_s = time.perf_counter() - t0
            have = n
            page = timed(lambda: history.list_tasks(client, None, 50), args.repeat)
            filt = timed(lambda: history.list_tasks(client, TaskFilter(name=NAMES[3], state="FAILURE"), 50), args.repeat)
            srch = timed(lambda: history.list_tasks(client, TaskFilter(search=f"file-{n // 2}.docx")), args.repeat)
            qfilt = timed(lambda: history.list_tasks(client, TaskFilter(queue=QUEUES[2], state="SUCCESS"), 50), args.repeat)
            wfilt = timed(lambda: history.list_tasks(client, TaskFilter(worker=WORKERS[3]), 50), args.repeat)

            def snap():
                s = snapshot.take(client, client, QUEUES)
                redis_lists.details(client, QUEUES, workers.consumers_by_queue(s.workers))
            snp = timed(snap, args.repeat)
            row = {"tasks": n, "fill_s": round(fill_s, 1), "page_p50_ms": page[0], "page_p95_ms": page[1],
                   "filter_p50_ms": filt[0], "queue_success_p50_ms": qfilt[0], "worker_p50_ms": wfilt[0], "search_p50_ms": srch[0], "snapshot_p50_ms": snp[0],
                   "snapshot_p95_ms": snp[1], "redis_used_mb": int(client.info("memory")["used_memory"]) / 2**20,
                   "history_bytes_per_task": (int(client.info("memory")["used_memory"]) - empty_bytes) / n}
            row["console_rss_mb"] = console_rss_mb(url, tmp)
            if flower is not None:
                gc.collect()
                before = rss_mb()
                t0 = time.perf_counter()
                flower.grow(n, base)
                row["flower_fill_s"] = round(time.perf_counter() - t0, 1)
                gc.freeze()  # keep Flower's heap out of the cyclic GC's work while we time our side
                row["flower_rss_mb"] = rss_mb()
                row["flower_rss_growth_mb"] = row["flower_rss_mb"] - before
                reps = max(3, min(args.repeat, int(2e6 // n)))
                row["flower_page_p50_ms"] = timed(flower.page, reps)[0]
                row["flower_filter_p50_ms"] = timed(lambda: flower.page(task_type=NAMES[3], state="FAILURE"), reps)[0]
                row["ratio_flower_over_ours_page"] = row["flower_page_p50_ms"] / row["page_p50_ms"]
            rows.append(row)
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    finally:
        proc.terminate()
        proc.wait(30)

    first, last = rows[0], rows[-1]
    print("\nSummary")
    print(f"{'tasks':>9} {'page p50':>9} {'filter':>8} {'search':>8} {'snapshot':>9} {'console RSS':>12}"
          f" {'Redis B/task':>12}"
          + ("" if args.skip_flower else f" {'Flower page':>12} {'Flower RSS':>11} {'Flower/ours':>11}"))
    for r in rows:
        line = (f"{r['tasks']:>9,} {r['page_p50_ms']:>7.2f}ms {r['filter_p50_ms']:>6.2f}ms {r['search_p50_ms']:>6.2f}ms "
                f"{r['snapshot_p50_ms']:>7.2f}ms {r['console_rss_mb']:>9.0f} MB {r['history_bytes_per_task']:>12.0f}")
        if not args.skip_flower:
            line += (f" {r['flower_page_p50_ms']:>10.1f}ms {r['flower_rss_mb']:>8.0f} MB "
                     f"{r['ratio_flower_over_ours_page']:>10.0f}x")
        print(line)
    print(f"scaling t({last['tasks']:,})/t({first['tasks']:,}) page p50 = {last['page_p50_ms'] / first['page_p50_ms']:.2f} "
          f"(target <= 2); page p50 at {last['tasks']:,} = {last['page_p50_ms']:.2f} ms (target <= 20); "
          f"snapshot p50 = {last['snapshot_p50_ms']:.2f} ms (target <= 10); console RSS = "
          f"{last['console_rss_mb']:.0f} MB (target <= 300); history {last['history_bytes_per_task']:.0f} bytes/task "
          f"of Redis memory (target <= 1024 at 1M; Flower keeps 4-5 KB/task in RAM)")


if __name__ == "__main__":
    main()
