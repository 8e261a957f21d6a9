"""End to end in headless Chromium against the real stack started by `python -m app`.

The stack runs with REDIS_URL unset, so it also proves the embedded-server path; Ctrl-C (SIGINT)
must stop every process it started.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest

from app.launcher import redis_server
from app.monitor import workers
from app.store.clients import redis_from_url
from config.celery_config import QUEUES
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except OSError:
        return 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data = tmp_path_factory.mktemp("stack")
    rport, cport = redis_server.free_port(), redis_server.free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATA_DIR")}
    env.update(DATA_DIR=str(data), REDIS_EMBEDDED_PORT=str(rport), PORT=str(cport),
               SMTP_SINK_PORT=str(redis_server.free_port()), METRICS_PORT=str(redis_server.free_port()),
               LOGLEVEL="WARNING")
    log = open(data / "stack.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    client = redis_from_url(f"redis://127.0.0.1:{rport}/0")
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{cport}/_stcore/health") == 200, timeout_s=90, interval_s=0.5)

        def all_queues_consumed():
            try:
                online = workers.consumers_by_queue(workers.list_workers(client))
            except Exception:  # noqa: BLE001 - Redis still starting
                return False
            return set(QUEUES) <= set(online)
        wait_for(all_queues_consumed, timeout_s=90, interval_s=0.5)
        yield {"url": f"http://127.0.0.1:{cport}", "proc": proc, "data": data,
               "redis_url": f"redis://127.0.0.1:{rport}/0"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        pg = browser.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def test_upload_docx_then_see_it_in_task_monitor(stack, page, corpus):
    page.goto(stack["url"] + "/file_processing")
    page.get_by_text("Files (.docx, .xlsx").wait_for()
    page.locator("input[type=file]").set_input_files(str(corpus / "docx" / "google-docs_no_docprops.docx"))
    page.locator('[data-testid="stFileChip"]').first.wait_for()
    page.get_by_role("button", name="Process").click()
    page.get_by_text("✅ SUCCESS").wait_for(timeout=90_000)
    page.get_by_text("305").first.wait_for()  # the Words metric
    task_id = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        page.locator("body").inner_text()).group(0)

    page.goto(stack["url"] + "/")
    page.get_by_text("file_processing_queue").first.wait_for()
    page.get_by_role("tab", name="Tasks").click()
    page.get_by_label("Task id", exact=True).fill(task_id)
    page.get_by_label("Task id", exact=True).press("Enter")
    page.get_by_text("Celery state: SUCCESS").wait_for()
    body = page.locator("body").inner_text()
    assert "No worker is online" not in body


def _send_health_checks(stack, n):
    from celery import Celery

    app = Celery(broker=stack["redis_url"], backend=stack["redis_url"])
    app.conf.task_routes = {"app.tasks.maintenance_tasks.*": {"queue": "default_queue"}}
    for _ in range(n):
        app.send_task("app.tasks.maintenance_tasks.health_check", queue="default_queue", exchange="tasks",
                      routing_key="default_queue")


def test_monitor_refreshes_by_itself_and_keeps_the_selected_row(stack, page):
    page.goto(stack["url"] + "/")
    caption = page.get_by_text(re.compile(r"SUCCESS: \d+"))
    caption.wait_for()
    before = int(re.search(r"SUCCESS: (\d+)", caption.inner_text()).group(1))
    _send_health_checks(stack, 3)
    page.wait_for_function(
        "n => { const m = document.body.innerText.match(/SUCCESS: (\\d+)/); return m && +m[1] >= n; }",
        arg=before + 3, timeout=60_000)  # no reload: the fragment re-ran on its own
    page.get_by_role("tab", name="Tasks").click()
    grid = page.locator('[data-testid="stDataFrame"]:visible').first
    grid.wait_for()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the first row's selection marker
    page.get_by_text("Timeline").first.wait_for()
    page.wait_for_timeout(5_000)  # two or more refreshes of the fragment
    assert page.get_by_text("Timeline").first.is_visible()
    assert page.get_by_role("button", name="Why is it stuck?").is_visible()


def test_ctrl_c_stops_every_process(stack):
    proc = stack["proc"]
    assert proc.poll() is None  # the stack was still running
    os.killpg(proc.pid, signal.SIGINT)
    # A clean stop on Ctrl-C: 0, or 130 (128 + SIGINT, the shell convention honcho follows); a crash
    # or a hang (TimeoutExpired after 40 s) fails.
    assert proc.wait(40) in (0, 130)

    def leftover() -> list[str]:
        return subprocess.run(["pgrep", "-f", str(stack["data"])], capture_output=True, text=True).stdout.split()
    wait_for(lambda: leftover() == [], timeout_s=15)
