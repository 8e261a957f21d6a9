"""Benchmark: end-to-end no-op throughput through the console's task base vs. raw Celery.

Run: ``.venv/bin/python bench/bench_throughput.py [--tasks 2000] [--rounds 6]``

For each round and each side (raw Celery app from bench/noop_raw.py; the console's `celery_app`
with its history recorder, result backend and heartbeat from bench/noop_console.py) it starts a
fresh private valkey-server, a real worker subprocess (prefork, concurrency 2) and a separate
publisher process of the same side, publishes N no-op tasks and times from the first publish to
the last result. The sides alternate order every round. Prints tasks/s per side (median of
rounds) and the ratio console/raw (target >= 0.9), the per-round (paired) ratios,
and the CPU time per task each side used (publisher, worker main process, pool, Redis, from /proc
and INFO cpu; each round also prints that split and Redis' busiest commands): on a shared machine
wall-clock rates swing with the other load, while CPU per task does not.
``--modes raw,console,norec`` adds the console with the history's signal handlers disconnected;
``nowrite`` the console with the handlers but no store client (handlers run, nothing is written).
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


def tree_cpu_s(pid: int, children_only: bool = False) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its direct children (the prefork
    pool), from /proc (Linux); with `children_only`, the children's alone."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if (int(entry) == pid and not children_only) or int(fields[1]) == pid:  # fields[1] is the ppid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def publish(mode: str, n: int, worker_pid: int) -> tuple[float, float]:
    """In a fresh process: send n no-ops, wait for every result. Returns (seconds, CPU seconds used
    meanwhile by this publisher, the worker and its pool, and Redis)."""
    import redis

    noop = __import__(f"bench.noop_{mode}", fromlist=["noop"]).noop
    noop.delay(-1).get(timeout=60)  # warm: worker up, connections open
    server = redis.Redis.from_url(os.environ["REDIS_URL"])

    def cpu() -> tuple[float, float, float, float]:
        info = server.info("cpu")
        pool = tree_cpu_s(worker_pid, children_only=True)
        return (time.process_time(), tree_cpu_s(worker_pid) - pool, pool,
                info["used_cpu_user"] + info["used_cpu_sys"])
    server.config_resetstat()
    c0, t0 = cpu(), time.perf_counter()
    results = [noop.delay(i) for i in range(n)]
    published_s = time.perf_counter() - t0
    for r in results:
        r.get(timeout=300)
    secs = time.perf_counter() - t0
    parts = [b - a for a, b in zip(c0, cpu())]
    stats = server.info("commandstats")
    top = sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:4]
    print("redis us/task by command:", ", ".join(f"{k[8:]} {v['usec'] / n:.1f} ({v['calls'] / n:.2f} calls)" for k, v in top),
          file=sys.stderr)
    print(f"all published after {published_s:.2f} s;", "cpu parts (publisher, worker main process, pool, Redis) ms/task:", *(f"{1000 * p / n:.2f}" for p in parts), file=sys.stderr)
    return secs, sum(parts)


def run_round(mode: str, n: int, url: str, data_dir: str) -> tuple[float, float]:
    env = dict(os.environ, REDIS_URL=url, DATA_DIR=data_dir, PYTHONPATH=str(ROOT))
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", f"bench.noop_{mode}:app", "worker",
                               "-P", "prefork", "-c", "2", "-Q", "bench_q", "--without-mingle",
                               "--without-gossip", "--loglevel", "WARNING"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out = subprocess.run([sys.executable, __file__, "--publish", mode, "--tasks", str(n),
                              "--worker-pid", str(worker.pid)], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        secs, cpu_s = out.stdout.strip().splitlines()[-1].split()
        for line in out.stderr.strip().splitlines()[-2:]:
            print("   ", line, flush=True)
        return float(secs), float(cpu_s)
    finally:
        worker.terminate()
        worker.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--publish")
    ap.add_argument("--modes", default="raw,console")
    ap.add_argument("--worker-pid", type=int)
    args = ap.parse_args()
    if args.publish:
        print(*publish(args.publish, args.tasks, args.worker_pid))
        return
    from app.launcher import redis_server

    modes = args.modes.split(",")
    rates: dict[str, list[float]] = {m: [] for m in modes}
    cpu_ms: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        # Each side of each round gets a fresh valkey-server (nothing left by the other side: result
        # keys, history), and the order flips every round, so drift during a round (other load,
        # warm caches) favours each side equally often.
        for mode in (modes if r % 2 == 0 else modes[::-1]):
            tmp = tempfile.mkdtemp(prefix="bench-throughput-")
            port = redis_server.free_port()
            proc = redis_server.start(port, Path(tmp) / "redis", persist=False)
            try:
                secs, cpu_s = run_round(mode, args.tasks, f"redis://127.0.0.1:{port}/0", tmp)
            finally:
                proc.terminate()
                proc.wait(30)
            rates[mode].append(args.tasks / secs)
            cpu_ms[mode].append(1000 * cpu_s / args.tasks)
            print(f"round {r + 1} {mode:>7}: {args.tasks} no-ops in {secs:.2f} s = {args.tasks / secs:.0f} tasks/s, "
                  f"{1000 * cpu_s / args.tasks:.2f} ms CPU per task (publisher + worker + Redis)", flush=True)
    for m in rates:
        print(f"{m:>8}: median {statistics.median(rates[m]):.0f} tasks/s, {statistics.median(cpu_ms[m]):.2f} ms CPU per task")
    raw, ours = statistics.median(rates["raw"]), statistics.median(rates["console"])
    print(f"\nraw Celery {raw:.0f} tasks/s, console task base {ours:.0f} tasks/s, "
          f"ratio {ours / raw:.2f} (target >= 0.9; median of {args.rounds} rounds)")
    # Paired ratios: each round runs the sides back to back (order flipping), so a round's ratio
    # shares its load.
    paired = sorted(c / r for c, r in zip(rates["console"], rates["raw"]))
    print(f"per-round ratios {', '.join(f'{p:.2f}' for p in paired)}; median {statistics.median(paired):.2f}")
    raw_cpu, our_cpu = statistics.median(cpu_ms["raw"]), statistics.median(cpu_ms["console"])
    print(f"CPU per task: raw {raw_cpu:.2f} ms, console {our_cpu:.2f} ms; raw/console {raw_cpu / our_cpu:.2f} "
          f"(the throughput ratio on a machine with nothing else running: all sides are CPU-bound here)")
    if "norec" in rates:
        print(f"console without the history's signal handlers {statistics.median(rates['norec']):.0f} tasks/s, "
              f"ratio {statistics.median(rates['norec']) / raw:.2f}; CPU per task {statistics.median(cpu_ms['norec']):.2f} ms")


if __name__ == "__main__":
    main()
