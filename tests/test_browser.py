"""End to end in headless Chromium against the real stack started by `python -m app`.

The stack runs with REDIS_URL unset, so it also proves the embedded-server path (with its generated
password); Ctrl-C (SIGINT) must stop every process it started. Sign-in is on (built-in accounts plus
the shared CONSOLE_PASSWORD as "admin"): the `page` fixture signs in as admin; the access tests use
their own browser contexts for a viewer, an operator and nobody, against the same stack.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from contextlib import contextmanager

import pytest

from app.launcher import redis_server
from app.monitor import workers
from app.store.clients import redis_from_url
from config.celery_settings import QUEUES
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.browser
ADMIN_PASSWORD = "stack admin password 1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except OSError:
        return 0


@contextmanager
def running_stack(data, extra_env: dict | None = None):
    """`python -m app` with its data in `data` (plus `extra_env`), once its console answers and a
    worker consumes every queue; stopped with Ctrl-C (SIGINT) on exit."""
    rport, cport = redis_server.free_port(), redis_server.free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATA_DIR")}
    env.update(DATA_DIR=str(data), REDIS_EMBEDDED_PORT=str(rport), PORT=str(cport),
               SMTP_SINK_PORT=str(redis_server.free_port()), METRICS_PORT=str(redis_server.free_port()),
               API_PORT=str(redis_server.free_port()),
               LOGLEVEL="WARNING", CONSOLE_AUTH="accounts", CONSOLE_PASSWORD=ADMIN_PASSWORD,
               SIGNIN_MAX_FAILURES="3", SIGNIN_DELAY_BASE_S="600", **(extra_env or {}))
    redis_url = redis_server.embedded_url(rport, redis_server.embedded_password(data))
    log = open(data / "stack.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    client = redis_from_url(redis_url)
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{cport}/_stcore/health") == 200, timeout_s=90, interval_s=0.5)

        def all_queues_consumed():
            try:
                online = workers.consumers_by_queue(workers.list_workers(client))
            except Exception:  # noqa: BLE001 - Redis still starting
                return False
            return set(QUEUES) <= set(online)
        wait_for(all_queues_consumed, timeout_s=90, interval_s=0.5)
        yield {"url": f"http://127.0.0.1:{cport}", "proc": proc, "data": data, "env": env,
               "redis_url": redis_url}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("stack")) as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def new_page(browser):
    """A page in a fresh browser context (its own cookies: nobody signed in)."""
    pg = browser.new_context().new_page()
    pg.set_default_timeout(60_000)
    return pg


def click_first_row(pg, grid) -> None:
    """Click the first row's selection marker of the dataframe `grid`, once it has a box (its
    fragment may be redrawing it just now)."""
    box = grid.bounding_box()
    for _ in range(100):
        if box:
            break
        pg.wait_for_timeout(100)
        box = grid.bounding_box()
    pg.mouse.click(box["x"] + 12, box["y"] + 35 + 17)


def open_tab(pg, name: str) -> None:
    """Click tab `name` once the page holds one tab set: while a rerun is under way Streamlit keeps
    the previous run's elements (faded) beside the new ones until the script ends."""
    tab = pg.get_by_role("tab", name=name)
    wait_for(lambda: tab.count() == 1)
    tab.click()


def sign_in(pg, url: str, name: str, password: str) -> None:
    pg.goto(url + "/")
    pg.get_by_label("Account", exact=True).fill(name)
    pg.get_by_label("Password", exact=True).fill(password)
    pg.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def page(stack, browser):
    pg = new_page(browser)
    sign_in(pg, stack["url"], "admin", ADMIN_PASSWORD)
    pg.get_by_text("Signed in as").wait_for()
    yield pg
    pg.context.close()


def test_upload_docx_then_see_it_in_task_monitor(stack, page, corpus):
    page.goto(stack["url"] + "/file_processing")
    page.get_by_text("Files (.docx, .xlsx").wait_for()
    page.locator("input[type=file]").set_input_files(str(corpus / "docx" / "google-docs_no_docprops.docx"))
    page.locator('[data-testid="stFileChip"]').first.wait_for()
    page.get_by_role("button", name="Process").click()
    page.get_by_text(re.compile(r"· \S* ?SUCCESS$")).first.wait_for(timeout=90_000)
    page.get_by_text("305").first.wait_for()  # the Words metric
    task_id = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        page.locator("body").inner_text()).group(0)

    page.goto(stack["url"] + "/")
    page.get_by_text("file_processing_queue").first.wait_for()
    open_tab(page, "Tasks")
    page.get_by_label("Task id", exact=True).fill(task_id)
    page.get_by_label("Task id", exact=True).press("Enter")
    page.get_by_text("Celery state: SUCCESS").wait_for()
    body = page.locator("body").inner_text()
    assert "No worker is online" not in body


def _send_health_checks(stack, n):
    from celery import Celery

    app = Celery(broker=stack["redis_url"], backend=stack["redis_url"], set_as_current=False)
    app.conf.task_routes = {"app.tasks.maintenance_tasks.*": {"queue": "default_queue"}}
    for _ in range(n):
        app.send_task("app.tasks.maintenance_tasks.health_check", queue="default_queue", exchange="tasks",
                      routing_key="default_queue")


def test_monitor_refreshes_by_itself_and_keeps_the_selected_row(stack, page):
    page.goto(stack["url"] + "/")
    # the count as the page shows it (read from the page's text in one step: the fragment may redraw
    # its caption between finding the element and reading it)
    before = page.wait_for_function(
        "() => { const m = document.body.innerText.match(/SUCCESS: (\\d+)/); return m && +m[1]; }",
        timeout=60_000).json_value()
    _send_health_checks(stack, 3)
    page.wait_for_function(
        "n => { const m = document.body.innerText.match(/SUCCESS: (\\d+)/); return m && +m[1] >= n; }",
        arg=before + 3, timeout=60_000)  # no reload: the fragment re-ran on its own
    open_tab(page, "Tasks")
    grid = page.locator('[data-testid="stDataFrame"]:visible').first
    grid.wait_for()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the first row's selection marker
    page.get_by_text("Timeline").first.wait_for()
    page.wait_for_timeout(5_000)  # two or more refreshes of the fragment
    assert page.get_by_text("Timeline").first.is_visible()
    assert page.get_by_role("button", name="Why is it stuck?").is_visible()


PAGE_PATHS = ["", "file_processing", "email", "ai", "reports", "schedules", "audit"]


def _users(stack, *args, password: str | None = None):
    return subprocess.run([sys.executable, "-m", "app", "users", *args], cwd=ROOT, env=stack["env"],
                          input=None if password is None else password + "\n", capture_output=True, text=True,
                          timeout=60)


def _audit(stack, **flt):
    from app.access import audit

    return audit.read(redis_from_url(stack["redis_url"]), audit.AuditFilter(**flt), 50)


def test_every_page_asks_for_sign_in_first(stack, browser):
    pg = new_page(browser)
    for path in PAGE_PATHS:
        pg.goto(f"{stack['url']}/{path}")
        pg.get_by_role("button", name="Sign in").wait_for()
        body = pg.locator("body").inner_text()
        assert "Task Monitor" not in body and "Queued" not in body, path
    pg.context.close()


def test_each_role_sees_exactly_its_controls(stack, browser, page):
    assert _users(stack, "add", "vera", "--role", "viewer", password="viewer password").returncode == 0
    assert _users(stack, "add", "otto", "--role", "operator", password="operator password").returncode == 0
    listed = _users(stack, "list").stdout
    assert "vera\tviewer" in listed and "otto\toperator" in listed and "password" not in listed
    bad = _users(stack, "add", "x", "--role", "root", password="whatever1")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr

    viewer = new_page(browser)
    sign_in(viewer, stack["url"], "vera", "viewer password")
    viewer.get_by_text("Signed in as vera").wait_for()
    viewer.get_by_text("file_processing_queue").first.wait_for()
    open_tab(viewer, "Workers & queues")
    viewer.get_by_text("Workers & queues").first.wait_for()
    for label in ("Send health check", "Send document job", "Purge queue…", "Set rate limit…", "Bulk revoke"):
        assert viewer.get_by_role("button", name=label).count() == 0, label
    viewer.goto(stack["url"] + "/file_processing")  # the cookie keeps the session across a reload
    viewer.get_by_text("read-only").first.wait_for()
    assert viewer.get_by_role("button", name="Process").count() == 0
    viewer.goto(stack["url"] + "/schedules")
    viewer.get_by_text("Beat reloads entries").wait_for()
    for label in ("Run now", "Delete", "Save", "Edit"):
        assert viewer.get_by_role("button", name=label).count() == 0, label
    viewer.get_by_role("button", name="Sign out", exact=True).click()
    viewer.get_by_role("button", name="Sign in").wait_for()
    viewer.goto(stack["url"] + "/")  # signed out for good: the session is gone from Redis
    viewer.get_by_role("button", name="Sign in").wait_for()
    viewer.context.close()

    operator = new_page(browser)
    sign_in(operator, stack["url"], "otto", "operator password")
    operator.get_by_role("button", name="Send health check").click()
    operator.get_by_text("Health check sent").wait_for()
    open_tab(operator, "Workers & queues")
    assert operator.get_by_role("button", name="Purge queue…").count() == 0
    operator.context.close()

    page.goto(stack["url"] + "/")
    open_tab(page, "Workers & queues")
    page.get_by_role("button", name="Purge queue…").wait_for()  # admin has it

    got = [(e["who"], e["role"], e["action"], e["outcome"], e["auth"]) for e in _audit(stack)]
    assert ("otto", "operator", "submit", "ok", "accounts") in got
    assert ("vera", "viewer", "sign_out", "ok", "accounts") in got
    assert ("vera", "viewer", "sign_in", "ok", "accounts") in got
    assert ("admin", "admin", "sign_in", "ok", "password") in got
    assert {e["client"] for e in _audit(stack, who="otto")} == {"127.0.0.1"}


def test_repeated_failed_sign_ins_are_throttled(stack, browser):
    pg = new_page(browser)
    pg.goto(stack["url"] + "/")
    for i in range(4):  # SIGNIN_MAX_FAILURES=3 in this stack: the 4th try is refused unchecked
        pg.get_by_label("Account", exact=True).fill("mallory")
        pg.get_by_label("Password", exact=True).fill(f"guess {i}")
        pg.get_by_role("button", name="Sign in").click()
        wait_for(lambda: len(_audit(stack, action="sign_in_failed", text="mallory")) == i + 1, timeout_s=60)
    pg.get_by_text("Too many failed sign-ins").wait_for()
    pg.context.close()
    outcomes = [e["outcome"] for e in _audit(stack, action="sign_in_failed", text="mallory")]
    assert outcomes == ["throttled", "refused", "refused", "refused"]


def test_ctrl_c_stops_every_process(stack):
    proc = stack["proc"]
    assert proc.poll() is None  # the stack was still running
    api = f"http://127.0.0.1:{stack['env']['API_PORT']}"
    wait_for(lambda: _get(api + "/api/openapi.json") == 200, timeout_s=60, interval_s=0.5)  # the api process
    os.killpg(proc.pid, signal.SIGINT)
    # A clean stop on Ctrl-C: 0, or 130 (128 + SIGINT, the shell convention honcho follows); a crash
    # or a hang (TimeoutExpired after 40 s) fails.
    assert proc.wait(40) in (0, 130)

    def leftover() -> list[str]:
        return subprocess.run(["pgrep", "-f", str(stack["data"])], capture_output=True, text=True).stdout.split()
    wait_for(lambda: leftover() == [], timeout_s=15)
