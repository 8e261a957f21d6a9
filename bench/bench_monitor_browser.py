"""Benchmark: Task Monitor time from navigation until every queue name is on screen (headless Chromium).

Run: ``.venv/bin/python bench/bench_monitor_browser.py [--sizes 10000,1000000] [--repeat 7] [--ref COMMIT]``
or, the way a user meets it, under the whole stack:
``.venv/bin/python bench/bench_monitor_browser.py --stack [--sizes 10000,1000000] [--queues 50] [--workers 50]``

``--stack``: `python -m app` (what `make run` runs: embedded Redis, the five real workers, beat,
events ingester, metrics, console) with a DATA_DIR under /tmp and free ports; the history filled in
its Redis to each size (bench_api.fill_history: finished tasks, 10 ms apart); `--queues` queues
(the five of the stack, then empty ``bench_q<i>`` ones, through MONITOR_QUEUES) and `--workers` workers (the five real ones, then heartbeat records written
through app.store.workers). Each sample is a navigation in a *new browser context* (empty HTTP
cache: a new user, every script chunk fetched), then a *reload at once* in it (cached; 0.3 s after
the page has drawn, while the browser may still be laying it out) and a *reload* of the page after
it has been on screen for `SETTLED_S` (what a person reloading does); the minimal page is
served by a second `streamlit run` of the same Streamlit, the sides alternating. Per side: p50 time
until the five queue names are on screen, websocket frames and bytes received before that, the
ratio. Then the idle refresh cost: one browser on the Task Monitor for `--idle-s` seconds, the
console process's CPU time (/proc, minus the same span with no browser) and the websocket bytes, per
2 s refresh.

Default mode:

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
import json
import os
import signal
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
from bench.bench_api import fill_history  # noqa: E402
from bench.bench_monitor import QUEUES, fill, write_workers  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT_JS = "names => names.every(n => document.body.innerText.includes(n))"
#: The page has finished drawing: the Task Monitor's last element (the Audit tab's caption, in the DOM
#: while its tab is hidden; either of its two) and its charts are on it, or it is the minimal page.
#: A reload before that would start the new session while the old one's full run still draws the
#: hidden tabs (both in the console's one process).
DRAWN_JS = ("() => (!!document.querySelector('[class*=\"st-key-chart_\"]') "
            "&& /The Audit page \\(sidebar\\)|No operator actions yet/.test(document.body.textContent)) "
            "|| !document.body.innerText.includes('Overview')")


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


class Frames:
    """Websocket frames received by a browser page: (perf_counter s, bytes) each."""

    def __init__(self, page) -> None:
        self.got: list[tuple[float, int]] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, payload) -> None:
        self.got.append((time.perf_counter(), len(payload) if payload else 0))

    def until(self, t: float) -> tuple[int, int]:
        """(frames, bytes) received up to perf_counter time `t`."""
        before = [n for at, n in self.got if at <= t]
        return len(before), sum(before)


def _visit(page, frames: Frames, url: str | None) -> tuple[float, int, int]:
    """Navigate to `url` (None: reload) and wait for the five queue names on screen:
    (s, frames before, bytes before)."""
    frames.got.clear()
    t0 = time.perf_counter()
    page.reload() if url is None else page.goto(url)
    page.wait_for_function(WAIT_JS, arg=list(QUEUES), timeout=120_000, polling=20)
    t = time.perf_counter()
    return (t - t0, *frames.until(t))


#: Seconds a page is left on screen after it has drawn before the "reload" sample: a person reloads
#: a page they have been looking at. The "reload at once" sample reloads 0.3 s after the drawing,
#: while the browser may still be busy laying out the old page's last run.
SETTLED_S = 3.0
#: The samples of one `_cold_and_reload`, in its order.
KINDS = ("new browser", "reload at once", "reload")


def _cold_and_reload(browser, url: str) -> tuple[tuple, tuple, tuple]:
    """A new browser context (nothing cached, a new session), then a reload in it 0.3 s after the
    page has finished drawing, then one `SETTLED_S` after that reload's page has drawn."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    frames = Frames(page)
    try:
        cold = _visit(page, frames, url)
        page.wait_for_function(DRAWN_JS, timeout=120_000, polling=50)
        page.wait_for_timeout(300)
        at_once = _visit(page, frames, None)
        page.wait_for_function(DRAWN_JS, timeout=120_000, polling=50)
        page.wait_for_timeout(SETTLED_S * 1000)
        return cold, at_once, _visit(page, frames, None)
    finally:
        ctx.close()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_stack(tmp: Path, queues: list[str]) -> tuple[subprocess.Popen, dict]:
    """`python -m app` on free ports with DATA_DIR under `tmp`; returns (launcher, {url, redis_url,
    console_pid, data_dir}) once the console answers."""
    ports = {k: str(redis_server.free_port()) for k in ("PORT", "REDIS_EMBEDDED_PORT", "METRICS_PORT", "API_PORT",
                                                       "SMTP_SINK_PORT")}
    env = dict(os.environ, DATA_DIR=str(tmp / "stack"), MONITOR_QUEUES=",".join(queues), **ports)
    for k in ("REDIS_URL", "CONSOLE_PASSWORD", "CONSOLE_AUTH", "SMTP_HOST"):
        env.pop(k, None)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    log = open(tmp / "stack.log", "w")  # noqa: SIM115 - kept open for the launcher's life
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{ports['PORT']}"
    deadline = time.monotonic() + 180
    while not _up(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"the stack did not start: see {tmp / 'stack.log'}")
        time.sleep(0.5)
    password = (tmp / "stack" / "secrets" / "redis_password").read_text().strip()
    conf = str(tmp / "stack" / "run" / "supervisord.conf")
    pid = subprocess.run([str(Path(sys.executable).parent / "supervisorctl"), "-c", conf, "pid", "front:console"],
                         capture_output=True, text=True).stdout.strip()
    return proc, {"url": url, "redis_url": f"redis://:{password}@127.0.0.1:{ports['REDIS_EMBEDDED_PORT']}/0",
                  "console_pid": int(pid)}


def stop_stack(proc: subprocess.Popen) -> None:
    """Ctrl-C to the launcher's process group (stops by stage), then SIGKILL after 90 s."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    except ProcessLookupError:
        pass


def simulated_workers(client, n: int, queues: list[str]) -> None:
    """Heartbeat records of `n` online workers (bench-w<i>@bench), written as a worker's heartbeat is."""
    from app.store import workers as store_workers

    now = time.time()
    for i in range(n):
        host = f"bench-w{i}@bench"
        store_workers.record_heartbeat(client, host, {
            "hostname": host, "status": "online", "queues": json.dumps([queues[i % len(queues)]]), "pool": "prefork",
            "concurrency": "4", "active": "[]", "processed": "0", "loadavg": "[0.1, 0.1, 0.1]",
            "last_heartbeat": str(now + 3600)}, now + 3600, online=True)


def idle_refresh_cost(browser, url: str, pid: int, idle_s: float) -> tuple[float, float, float]:
    """(console CPU ms per 2 s refresh, net of the same span with no browser; KB received per
    refresh; refreshes counted) for one browser idling on the Task Monitor for `idle_s` s."""
    c0, t0 = _cpu_s(pid), time.perf_counter()
    time.sleep(idle_s)
    idle_cpu = (_cpu_s(pid) - c0) / (time.perf_counter() - t0)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    frames = Frames(page)
    page.goto(url)
    page.wait_for_function("() => document.body.innerText.includes('Finished tasks per minute')", timeout=120_000)
    page.wait_for_timeout(3000)
    frames.got.clear()
    c0, t0 = _cpu_s(pid), time.perf_counter()
    page.wait_for_timeout(idle_s * 1000)
    span = time.perf_counter() - t0
    cpu, (_, nbytes) = _cpu_s(pid) - c0 - idle_cpu * span, frames.until(time.perf_counter())
    ctx.close()
    refreshes = span / 2.0
    return cpu * 1000 / refreshes, nbytes / 1024 / refreshes, refreshes


def main_stack(args) -> None:
    """The --stack mode (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    queues = list(QUEUES) + [f"bench_q{i}" for i in range(max(0, args.queues - len(QUEUES)))]
    tmp = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    stack, info = start_stack(tmp, queues)
    minimal = None
    try:
        minimal, minimal_url = serve("bench/minimal_page.py", dict(os.environ, DATA_DIR=str(tmp / "minimal")))
        client = redis_from_url(info["redis_url"])
        simulated_workers(client, max(0, args.workers - 5), queues)
        urls = {"monitor": info["url"], "minimal": minimal_url}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
            for size in (int(s) for s in args.sizes.split(",")):
                t_fill = time.perf_counter()
                fill_history(client, size, time.time())  # ids bench-<i>: a larger size rewrites the smaller's
                print(f"history filled to {size:,} tasks in {time.perf_counter() - t_fill:.0f} s", flush=True)
                for url in urls.values():
                    _cold_and_reload(browser, url)  # warm the server side
                got = {side: [] for side in urls}
                for _ in range(args.repeat):
                    for side, url in urls.items():
                        got[side].append(_cold_and_reload(browser, url))
                for i, kind in enumerate(KINDS):
                    p50 = {side: tuple(statistics.median(s[i][k] for s in got[side]) for k in range(3))
                           for side in urls}
                    mon, mini = p50["monitor"], p50["minimal"]
                    print(f"{size:>9,} tasks, {len(queues)} queues, {max(args.workers, 5)} workers, {kind:>14}: "
                          f"queues on screen p50 {mon[0]:.2f} s ({mon[1]:.0f} frames, {mon[2] / 1024:.1f} KB before) "
                          f"vs minimal page {mini[0]:.2f} s ({mini[1]:.0f} frames, {mini[2] / 1024:.1f} KB): "
                          f"ratio {mon[0] / mini[0]:.2f}x (target <= 1.5x) | samples "
                          f"{' '.join(f'{s[i][0]:.2f}' for s in got['monitor'])} | load {os.getloadavg()[0]:.1f}",
                          flush=True)
                cpu_ms, kb, n = idle_refresh_cost(browser, info["url"], info["console_pid"], args.idle_s)
                print(f"{size:>9,} tasks, {len(queues)} queues, {max(args.workers, 5)} workers, idle refresh: "
                      f"console CPU {cpu_ms:.1f} ms, {kb:.1f} KB sent per refresh over {n:.0f} refreshes "
                      f"(targets <= 20 ms, <= 50 KB) | load {os.getloadavg()[0]:.1f}", flush=True)
            browser.close()
    finally:
        if minimal is not None:
            minimal.terminate()
            minimal.wait(30)
        stop_stack(stack)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--ref", help="also serve the console as of this git commit (a detached worktree), "
                                  "interleaved with the other two sides: before/after in one run")
    ap.add_argument("--stack", action="store_true", help="under `python -m app` with its real workers (see above)")
    ap.add_argument("--queues", type=int, default=5, help="--stack: monitored queues (>= 5)")
    ap.add_argument("--workers", type=int, default=5, help="--stack: workers (5 real, the rest simulated)")
    ap.add_argument("--idle-s", type=float, default=20.0, help="--stack: seconds of idle refreshes measured")
    args = ap.parse_args()
    if args.stack:
        if not CHROMIUM:
            sys.exit("Chromium is not installed (apt-get install -y chromium)")
        return main_stack(args)
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
