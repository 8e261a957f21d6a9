"""End to end in headless Chromium against the real stack started by `python -m app` (the shared
`stack` of tests/browser_stack.py).

The stack runs with REDIS_URL unset, so it also proves the embedded-server path (with its generated
password); Ctrl-C (SIGINT) must stop every process it started. Sign-in is on (built-in accounts plus
the shared CONSOLE_PASSWORD as "admin"): the `page` fixture signs in as admin; the access tests use
their own browser contexts for a viewer, an operator and nobody, against the same stack. The
throttling and Ctrl-C tests are marked `spoils_stack`: they run after every other test of the stack.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from app.store.clients import redis_from_url
from tests.browser_stack import click_first_row, get_status, has_session_cookie, new_page, open_tab, sign_in
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.browser


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
    click_first_row(page, grid)  # the first row's selection marker, once its redrawn box is there
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
    has_session_cookie(viewer)
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


@pytest.mark.spoils_stack  # 127.0.0.1 is throttled for 600 s afterwards
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


@pytest.mark.spoils_stack  # the last test of the shared stack: it stops it
def test_ctrl_c_stops_every_process(stack):
    proc = stack["proc"]
    assert proc.poll() is None  # the stack was still running
    api = f"http://127.0.0.1:{stack['env']['API_PORT']}"
    wait_for(lambda: get_status(api + "/api/openapi.json") == 200, timeout_s=60, interval_s=0.25)  # the api process
    os.killpg(proc.pid, signal.SIGINT)
    # A clean stop on Ctrl-C: 0, or 130 (128 + SIGINT, the shell convention honcho follows); a crash
    # or a hang (TimeoutExpired after 40 s) fails.
    assert proc.wait(40) in (0, 130)

    def leftover() -> list[str]:
        return subprocess.run(["pgrep", "-f", str(stack["data"])], capture_output=True, text=True).stdout.split()
    wait_for(lambda: leftover() == [], timeout_s=15)
