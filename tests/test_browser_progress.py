"""In headless Chromium against the real stack (`tests.test_browser.running_stack`) whose AI
workers talk to the fake AI server: a long AI task's percent rises in the Task Monitor's detail,
and a saved chain run again on the Workflows page finishes there (the README's screenshot: set
WRITE_SCREENSHOTS=1 to write it to docs/screenshots/workflows.png)."""
from __future__ import annotations

import os
import re
import shutil

import pytest

from app.store import history
from app.store.clients import redis_from_url
from tests.conftest import ROOT, wait_for
from tests.fixtures_ai import ANTHROPIC_KEY, OPENAI_KEY
from tests.test_browser import click_first_row, ADMIN_PASSWORD, browser, new_page, open_tab, running_stack, sign_in  # noqa: F401

pytestmark = pytest.mark.browser
PARTS = 5
PART_DELAY_S = 2.0
SCREENSHOT = ROOT / "docs" / "screenshots" / "workflows.png"


@pytest.fixture(scope="module")
def ai_stack(tmp_path_factory, _fake_ai_server):
    """The stack, its AI tasks answered by the fake server; documents split into ~100-token parts."""
    server = _fake_ai_server
    env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
           "OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": OPENAI_KEY,
           "AI_DOCUMENT_CHUNK_TOKENS": "100", "AI_REQUEST_TIMEOUT_S": "20"}
    with running_stack(tmp_path_factory.mktemp("ai-stack"), env) as s:
        client = redis_from_url(s["redis_url"])
        try:
            yield {**s, "ai": server, "client": client}
        finally:
            client.close()


@pytest.fixture(scope="module")
def page(ai_stack, browser):  # noqa: F811 - this module's signed-in page, on its own stack
    pg = new_page(browser)
    pg.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(pg, ai_stack["url"], "admin", ADMIN_PASSWORD)
    pg.get_by_text("Signed in as").wait_for()
    yield pg
    pg.context.close()


def _percent(page) -> int | None:
    m = re.search(r"(\d+)% · part \d+ of \d+", page.locator("body").inner_text())
    return int(m.group(1)) if m else None


def test_long_task_percent_rises_in_the_task_monitor(ai_stack, page):
    from celery import Celery

    ai_stack["ai"].reset()
    ai_stack["ai"].default = {"delay_s": PART_DELAY_S}
    text = " ".join(f"Sentence {i} of the quarterly report says the figures went up again." for i in range(
        PARTS * 30))
    app = Celery(broker=ai_stack["redis_url"], set_as_current=False)
    try:
        task_id = app.send_task("app.tasks.ai_tasks.analyze_document", queue="ai_queue", exchange="tasks",
                                routing_key="ai_queue", kwargs={"document_text": text,
                                                                "analysis_type": "summary"}).id
    finally:
        app.close()
    page.goto(ai_stack["url"] + "/")
    open_tab(page, "Tasks")
    search = page.get_by_placeholder("name, id, file, address…")  # the Tasks tab's box (tables have a "Search" too)
    search.fill(task_id)
    search.press("Enter")
    wait_for(lambda: (history.get_task(ai_stack["client"], task_id) or {}).get("state") == "PROGRESS",
             timeout_s=30)
    grid = page.locator('[data-testid="stDataFrame"]:visible').first
    grid.wait_for()
    page.get_by_text("1 task(s) shown").wait_for()
    click_first_row(page, grid)
    page.get_by_text(re.compile(r"\d+% · part \d+ of \d+")).first.wait_for(timeout=30_000)
    first = _percent(page)
    # no reload: the detail's fragment re-reads the history while the task runs
    page.wait_for_function(
        "n => { const m = document.body.innerText.match(/(\\d+)% · part \\d+ of \\d+/); return m && +m[1] > n; }",
        arg=first, timeout=30_000)
    assert _percent(page) > first
    assert page.locator('[data-testid="stProgress"]').first.is_visible()


def test_saved_chain_runs_again_on_the_workflows_page(ai_stack, page, celery_app, tmp_path):
    from app import workflows
    from app.workflows import saved

    ai_stack["ai"].reset()
    wf = workflows.Workflow.from_dict({"name": "post-to-team", "kind": "chain", "steps": [
        {"task": "app.tasks.ai_tasks.generate_content",
         "kwargs": {"content_type": "social_post", "topic": "the new release"}},
        {"task": "app.tasks.email_tasks.send_email",
         "kwargs": {"to_email": "team@example.com", "subject": "Today's post"}, "feed": {"body": "content"}}]})
    celery_app.loader.import_default_modules()  # the task modules, so the check knows every step
    saved.save(celery_app, ai_stack["client"], wf, "admin")  # checked against the console's own tasks
    page.goto(ai_stack["url"] + "/workflows")
    open_tab(page, "Saved workflows")
    page.get_by_role("button", name="Run again").click()
    page.get_by_text("Running").first.wait_for()
    run = wait_for(lambda: saved.store.runs(ai_stack["client"], "post-to-team"), timeout_s=20)[0]
    wait_for(lambda: all((history.get_task(ai_stack["client"], i) or {}).get("state") == "SUCCESS"
                         for i in run["step_ids"]), timeout_s=60)
    page.get_by_text("post-to-team · chain · 2 steps").first.wait_for()
    page.wait_for_timeout(5_000)  # the run view's refresh draws the finished steps
    assert page.get_by_role("button", name=re.compile("Open step 2: send_email")).count() >= 1
    shot = tmp_path / "workflows.png"
    page.set_viewport_size({"width": 1400, "height": 1350})  # the run, its graph and step buttons
    page.wait_for_timeout(1_000)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("WRITE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, SCREENSHOT)
