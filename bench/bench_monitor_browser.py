"""Benchmark: Task Monitor time from navigation until every queue name is on screen (headless Chromium).

Run: ``.venv/bin/python bench/bench_monitor_browser.py [--sizes 10000,1000000] [--repeat 7] [--ref COMMIT]``

In one run, on a private valkey-server: the history is filled (same writer path and task mix as
bench_monitor.py) to each size, with eight workers' heartbeats; `streamlit run streamlit_app.py`
serves the console (warm: one visit first). Each sample is a fresh navigation to ``/`` in the same
browser page, timed until the five queue names are all in the page text. Baseline in the same run:
a minimal Streamlit script (bench/minimal_page.py) that only writes the five names, served the same
way — Streamlit's own floor for "navigate, run a script, show text"; the two sides alternate sample
by sample. Prints p50 per size, the ratio to the baseline, the target (<= 1.5 s), the
renderer's main-thread CPU per navigation (CDP Performance.TaskDuration; less sensitive than wall
time to other processes on a shared machine) and the load average.
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


def serve(script: str, env: dict, cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    port = redis_server.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=cwd, env=dict(env, PYTHONPATH=str(cwd)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not _up(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"streamlit did not start for {script}")
        time.sleep(0.3)
    return proc, url


def _task_s(cdp) -> float:
    """Seconds the renderer's main thread has spent in tasks so far (CDP Performance.TaskDuration)."""
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")


def warm(page, url: str) -> None:
    """One visit first: server-side imports and caches, the browser's HTTP cache."""
    page.goto(url)
    page.wait_for_function(WAIT_JS, arg=list(QUEUES), timeout=120_000)


def time_to_names(page, cdp, url: str) -> tuple[float, float]:
    """One fresh navigation (a new Streamlit session): (wall s until the five names are in the page
    text, main-thread CPU s of the renderer over the same span)."""
    page.goto("about:blank")
    c0 = _task_s(cdp)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(WAIT_JS, arg=list(QUEUES), timeout=120_000, polling=20)
    return time.perf_counter() - t0, _task_s(cdp) - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--ref", help="also serve the console as of this git commit (a detached worktree), "
                                  "interleaved with the other two sides: before/after in one run")
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
    env = dict(os.environ, REDIS_URL=redis_url, DATA_DIR=str(tmp / "data"), PYTHONPATH=str(ROOT))
    env.pop("CONSOLE_PASSWORD", None)
    procs = []
    ref_dir = tmp / "ref"
    if args.ref:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(ref_dir), args.ref], check=True,
                       capture_output=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            page = browser.new_page()
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            base_proc, base_url = serve("bench/minimal_page.py", env)
            procs.append(base_proc)
            filled = 0
            base = time.time() - 3 * 86_400
            write_workers(client)
            console_proc, console_url = serve("streamlit_app.py", env)
            procs.append(console_proc)
            urls = {"minimal": base_url, "monitor": console_url}
            if args.ref:
                ref_proc, urls["monitor@ref"] = serve("streamlit_app.py", env, cwd=ref_dir)
                procs.append(ref_proc)
            for size in (int(s) for s in args.sizes.split(",")):
                fill(client, filled, size, base)
                filled = size
                write_workers(client)
                for url in urls.values():
                    warm(page, url)
                sides = {side: [] for side in urls}
                for _ in range(args.repeat):  # the sides interleaved, so load swings hit them all
                    for side, url in urls.items():
                        sides[side].append(time_to_names(page, cdp, url))
                p50 = {side: statistics.median(w for w, _ in got) for side, got in sides.items()}
                cpu = {side: statistics.median(c for _, c in got) for side, got in sides.items()}
                print(f"{size:>9,} tasks: Task Monitor p50 {p50['monitor']:.2f} s "
                      f"(min {min(w for w, _ in sides['monitor']):.2f}), minimal Streamlit page p50 "
                      f"{p50['minimal']:.2f} s, ratio {p50['monitor'] / p50['minimal']:.1f}x; target <= 1.5 s | "
                      f"browser main-thread CPU p50 {cpu['monitor']:.2f} s vs {cpu['minimal']:.2f} s | "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
                if args.ref:
                    print(f"{'':>9}        Task Monitor at {args.ref}: p50 {p50['monitor@ref']:.2f} s "
                          f"(min {min(w for w, _ in sides['monitor@ref']):.2f}), CPU {cpu['monitor@ref']:.2f} s; "
                          f"now / then {p50['monitor'] / p50['monitor@ref']:.2f}", flush=True)
            browser.close()
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        rproc.terminate()
        rproc.wait(30)
        if args.ref:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref_dir)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
