"""Benchmark: ``GET /api/tasks?limit=50`` of the console's HTTP API next to Flower 2.2's on the same
number of stored tasks, and the console's own history page ``GET /api/v1/tasks?limit=50``.

Run: ``.venv/bin/python bench/bench_api.py [--sizes 10000,100000] [--rounds 40] [--flower-max 100000]``

For each size N: a private valkey-server gets N finished tasks in the console's history (the
writer's own batch script, as the event ingester writes them); Flower gets the same N tasks as its
events state (celery.events.State fed received/started/succeeded events, saved the way Flower
persists it and loaded with ``--persistent --db``; only up to ``--flower-max``). Then the API
(``python -m app.api``, Bearer token) and Flower (``--basic-auth``) each serve the request
``--rounds`` times, interleaved, over keep-alive connections from this process. Prints p50/p95 per
side, Flower/console, and the console's t(largest N)/t(smallest N).

Measured on the shared 2-core machine (loaded by other jobs), 20 rounds: N=10,000 console 5.2 ms,
/api/v1 4.1 ms, Flower 11.9 ms (2.3x); N=100,000 console 15.6 ms, /api/v1 11.1 ms, Flower 555 ms
(35.6x).
"""
from __future__ import annotations

import argparse
import os
import shelve
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NAMES = ("app.tasks.report_tasks.export_data", "app.tasks.email_tasks.send_email", "app.tasks.file_tasks.process_pdf")
WORKER = "celery@bench-host"


def fill_history(client, n: int, now: float) -> None:
    """N finished tasks, one per 10 ms up to `now`, written with the history's batch script."""
    from app.store import writer

    batch = []
    for i in range(n):
        at = now - (n - i) * 0.01
        batch.append((f"bench-{i:07d}", "SUCCESS", {"result": "'ok'", "runtime_s": 0.01, "args": f"[{i}]",
                                                  "kwargs": "{}"}, at,
                      {"name": NAMES[i % 3], "queue": "default_queue", "worker": WORKER}))
        if len(batch) == 2000:
            writer.write_batch(client, batch, retention_s=7 * 86_400, max_tasks=10_000_000)
            batch = []
    writer.write_batch(client, batch, retention_s=7 * 86_400, max_tasks=10_000_000)


def flower_db(path: Path, n: int, now: float) -> None:
    """Flower's persisted events state holding the same N tasks."""
    from flower.events import EventsState

    state = EventsState(max_tasks_in_memory=n + 10)
    for i in range(n):
        at = now - (n - i) * 0.01
        base = {"uuid": f"bench-{i:07d}", "hostname": WORKER, "clock": i, "local_received": at}
        state.event({**base, "type": "task-received", "timestamp": at, "name": NAMES[i % 3], "args": f"[{i}]",
                     "kwargs": "{}", "retries": 0, "eta": None, "expires": None})
        state.event({**base, "type": "task-started", "timestamp": at + 0.001})
        state.event({**base, "type": "task-succeeded", "timestamp": at + 0.01, "result": "'ok'", "runtime": 0.01})
    with shelve.open(str(path), flag="n") as db:
        db["events"] = state
        db["counter"] = dict(state.counter)


def wait_http(url: str, auth=None, headers=None, timeout_s: float = 120) -> None:
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url, auth=auth, headers=headers, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def timed(session, url: str, **kw) -> float:
    t0 = time.perf_counter()
    r = session.get(url, timeout=120, **kw)
    took = time.perf_counter() - t0
    assert r.status_code == 200 and len(r.json()) >= 1, (url, r.status_code, r.text[:200])
    return took


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--flower-max", type=int, default=100_000)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from app.launcher import redis_server

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    port = redis_server.free_port()
    server = redis_server.start(port, tmp / "redis", persist=False)
    url = f"redis://127.0.0.1:{port}/0"
    os.environ.update(REDIS_URL=url, DATA_DIR=str(tmp / "data"))
    os.environ.pop("CELERY_BROKER_URL", None)
    import requests

    from app.access import accounts, api_tokens, identity
    from app.store.clients import redis_from_url
    from config.settings import get_settings

    client = redis_from_url(url)
    admin = identity.system("bench")
    accounts.add(client, admin, "bench", "viewer", "bench password")
    token, _ = api_tokens.issue(client, get_settings(), admin, "bench")
    api_port, results = redis_server.free_port(), {}
    env = dict(os.environ, API_PORT=str(api_port), API_RATE_LIMIT_PER_MIN="1000000", PYTHONUNBUFFERED="1")
    api = subprocess.Popen([sys.executable, "-m", "app.api"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    bearer = {"Authorization": f"Bearer {token}"}
    procs = [api]
    try:
        wait_http(f"http://127.0.0.1:{api_port}/api/v1/whoami", headers=bearer)
        for n in sizes:
            client.flushdb()
            accounts.add(client, admin, "bench", "viewer", "bench password")
            token, _ = api_tokens.issue(client, get_settings(), admin, "bench")
            bearer = {"Authorization": f"Bearer {token}"}
            now = time.time()
            t0 = time.perf_counter()
            fill_history(client, n, now)
            print(f"N={n:,}: history written in {time.perf_counter() - t0:.1f} s", flush=True)
            flower = None
            if n <= args.flower_max:
                t0 = time.perf_counter()
                db = tmp / f"flower-{n}"
                flower_db(db, n, now)
                fport = redis_server.free_port()
                flower = subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "config.celery_config", "flower", f"--port={fport}",
                     "--address=127.0.0.1", "--basic-auth=bench:pw", "--persistent=True", f"--db={db}",
                     f"--max_tasks={n + 10}", "--enable_events=False", "--inspect=False"],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(flower)
                wait_http(f"http://127.0.0.1:{fport}/api/tasks?limit=1", auth=("bench", "pw"))
                print(f"N={n:,}: Flower state built and loaded in {time.perf_counter() - t0:.1f} s", flush=True)
            s_api, s_flower = requests.Session(), requests.Session()
            api_url = f"http://127.0.0.1:{api_port}"
            times = {"console /api/tasks": [], "console /api/v1/tasks": [], "flower /api/tasks": []}
            for _ in range(3):  # warm
                timed(s_api, f"{api_url}/api/tasks?limit=50", headers=bearer)
                if flower:
                    timed(s_flower, f"http://127.0.0.1:{fport}/api/tasks?limit=50", auth=("bench", "pw"))
            for _ in range(args.rounds):
                times["console /api/tasks"].append(timed(s_api, f"{api_url}/api/tasks?limit=50", headers=bearer))
                times["console /api/v1/tasks"].append(timed(s_api, f"{api_url}/api/v1/tasks?limit=50", headers=bearer))
                if flower:
                    times["flower /api/tasks"].append(
                        timed(s_flower, f"http://127.0.0.1:{fport}/api/tasks?limit=50", auth=("bench", "pw")))
            for name, values in times.items():
                if values:
                    values.sort()
                    p50, p95 = statistics.median(values), values[int(0.95 * (len(values) - 1))]
                    results[(name, n)] = p50
                    print(f"N={n:,} {name:24s} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms", flush=True)
            if flower:
                ratio = results[("flower /api/tasks", n)] / results[("console /api/tasks", n)]
                print(f"N={n:,} Flower/console p50 ratio: {ratio:.1f}x", flush=True)
                flower.kill()  # SIGTERM would make a persistent Flower save its whole state first
                flower.wait(15)
        lo, hi = min(sizes), max(sizes)
        for name in ("console /api/tasks", "console /api/v1/tasks"):
            print(f"{name}: t({hi:,})/t({lo:,}) = {results[(name, hi)] / results[(name, lo)]:.2f}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(15)
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
