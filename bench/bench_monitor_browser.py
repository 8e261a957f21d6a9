"""Benchmark: Task Monitor time from navigation until every queue name is on screen (headless Chromium).

Run: ``.venv/bin/python bench/bench_monitor_browser.py [--sizes 10000,1000000] [--repeat 7]``

In one run, on a private valkey-server: the history is filled (same writer path and task mix as
bench_monitor.py) to each size, with eight workers' heartbeats; `streamlit run streamlit_app.py`
serves the console (warm: one visit first). Each sample is a fresh navigation to ``/`` in the same
browser page, timed until the five queue names are all in the page text. Baseline in the same run:
a minimal Streamlit script (bench/minimal_page.py) that only writes the five names, served the same
way — Streamlit's own floor for "navigate, run a script, show text". Prints p50 per size, the ratio
to the baseline and the target (issue 13: <= 1.5 s).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.launcher import redis_server  # noqa: E402
from app.store import writer  # noqa: E402
from app.store.clients import redis_from_url  # noqa: E402
from bench.bench_monitor import QUEUES, fill, write_workers  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT_JS = "names => names.every(n => document.body.innerText.includes(n))"


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def serve(script: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = redis_server.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not _up(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"streamlit did not start for {script}")
        time.sleep(0.3)
    return proc, url


def time_to_names(page, url: str, repeat: int) -> list[float]:
    page.goto(url)  # warm: server-side imports and caches, browser cache
    page.wait_for_function(WAIT_JS, arg=list(QUEUES), timeout=120_000)
    samples = []
    for _ in range(repeat):
        page.goto("about:blank")
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_function(WAIT_JS, arg=list(QUEUES), timeout=120_000, polling=20)
        samples.append(time.perf_counter() - t0)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if not CHROMIUM:
        sys.exit("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    port = redis_server.free_port()
    rproc = redis_server.start(port, tmp / "redis", persist=False)
    redis_url = f"redis://127.0.0.1:{port}/0"
    client = redis_from_url(redis_url)
    for _ in range(100):
        try:
            client.ping()
            break
        except Exception:  # noqa: BLE001 - still starting
            time.sleep(0.1)
    writer.configure(lambda: client, retention_s=30 * 86_400, max_tasks=10_000_000)
    env = dict(os.environ, REDIS_URL=redis_url, DATA_DIR=str(tmp / "data"), PYTHONPATH=str(ROOT))
    env.pop("CONSOLE_PASSWORD", None)
    procs = []
    results: dict[str, list[float]] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            page = browser.new_page()
            base_proc, base_url = serve("bench/minimal_page.py", env)
            procs.append(base_proc)
            filled = 0
            base = time.time() - 3 * 86_400
            write_workers(client)
            console_proc, console_url = serve("streamlit_app.py", env)
            procs.append(console_proc)
            for size in (int(s) for s in args.sizes.split(",")):
                fill(client, filled, size, base)
                filled = size
                write_workers(client)
                results[f"minimal page @{size}"] = time_to_names(page, base_url, args.repeat)
                results[f"task monitor @{size}"] = time_to_names(page, console_url, args.repeat)
                mono = statistics.median(results[f"task monitor @{size}"])
                floor = statistics.median(results[f"minimal page @{size}"])
                print(f"{size:>9,} tasks: Task Monitor p50 {mono:.2f} s (min {min(results[f'task monitor @{size}']):.2f}), "
                      f"minimal Streamlit page p50 {floor:.2f} s, ratio {mono / floor:.1f}x; target <= 1.5 s",
                      flush=True)
            browser.close()
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        rproc.terminate()
        rproc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
