"""Benchmark: end-to-end no-op throughput through the console's task base vs. raw Celery.

Run: ``.venv/bin/python bench/bench_throughput.py [--tasks 2000] [--rounds 3]``

For each round and each side (raw Celery app from bench/noop_raw.py; the console's `celery_app`
with its history recorder and heartbeat from bench/noop_console.py) it starts a real worker
subprocess (prefork, concurrency 2) on a private valkey-server, publishes N no-op tasks from a
separate publisher process of the same side, and times from the first publish to the last result.
Prints tasks/s per side (median of rounds) and the ratio console/raw (target >= 0.9, issue 8).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def publish(mode: str, n: int) -> float:
    """In a fresh process: send n no-ops, wait for every result; returns seconds."""
    module = __import__(f"bench.noop_{mode}", fromlist=["app", "noop"])
    app, noop = module.app, module.noop
    noop.delay(-1).get(timeout=60)  # warm: worker up, connections open
    t0 = time.perf_counter()
    results = [noop.delay(i) for i in range(n)]
    for r in results:
        r.get(timeout=300)
    return time.perf_counter() - t0


def run_round(mode: str, n: int, url: str, data_dir: str) -> float:
    env = dict(os.environ, REDIS_URL=url, DATA_DIR=data_dir, PYTHONPATH=str(ROOT))
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", f"bench.noop_{mode}:app", "worker",
                               "-P", "prefork", "-c", "2", "-Q", "bench_q", "--without-mingle",
                               "--without-gossip", "--loglevel", "WARNING"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = subprocess.run([sys.executable, __file__, "--publish", mode, "--tasks", str(n)], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        worker.terminate()
        worker.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--publish", choices=["raw", "console", "norec"])
    ap.add_argument("--modes", default="raw,console")
    args = ap.parse_args()
    if args.publish:
        print(publish(args.publish, args.tasks))
        return
    from app.launcher import redis_server

    tmp = tempfile.mkdtemp(prefix="bench-throughput-")
    port = redis_server.free_port()
    proc = redis_server.start(port, Path(tmp) / "redis", persist=False)
    url = f"redis://127.0.0.1:{port}/0"
    rates: dict[str, list[float]] = {m: [] for m in args.modes.split(",")}
    try:
        for r in range(args.rounds):
            for mode in args.modes.split(","):
                secs = run_round(mode, args.tasks, url, tmp)
                rates[mode].append(args.tasks / secs)
                print(f"round {r + 1} {mode:>7}: {args.tasks} no-ops in {secs:.2f} s = {args.tasks / secs:.0f} tasks/s",
                      flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    raw, ours = statistics.median(rates["raw"]), statistics.median(rates["console"])
    print(f"\nraw Celery {raw:.0f} tasks/s, console task base {ours:.0f} tasks/s, "
          f"ratio {ours / raw:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
