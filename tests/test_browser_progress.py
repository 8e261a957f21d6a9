"""In headless Chromium against the real stack (the shared `stack` of tests/browser_stack.py) whose
AI workers talk to the fake AI server (documents split into ~100-token parts): a long AI task's
percent rises in the Task Monitor's detail, and a saved chain run again on the Workflows page
finishes there (the README's screenshot: set WRITE_SCREENSHOTS=1 to write it to
docs/screenshots/workflows.png)."""
from __future__ import annotations

import os
import re
import shutil

import pytest

from app.store import history
from tests.browser_stack import click_first_row, open_tab
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.browser
PARTS = 5
PART_DELAY_S = 2.0
SCREENSHOT = ROOT / "docs" / "screenshots" / "workflows.png"


@pytest.fixture(scope="module")
def page(page):
    """The module's signed-in page (tests/browser_stack.py), wide enough for the run's graph."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    return page


def _percent(page) -> int | None:
    m = re.search(r"(\d+)% · part \d+ of \d+", page.locator("body").inner_text())
    return int(m.group(1)) if m else None


def test_long_task_percent_rises_in_the_task_monitor(stack, page):
    from celery import Celery

    stack["ai"].reset()
    stack["ai"].default = {"delay_s": PART_DELAY_S}
    text = " ".join(f"Sentence {i} of the quarterly report says the figures went up again." for i in range(
        PARTS * 30))
    app = Celery(broker=stack["redis_url"], set_as_current=False)
    try:
        task_id = app.send_task("app.tasks.ai_tasks.analyze_document", queue="ai_queue", exchange="tasks",
                                routing_key="ai_queue", kwargs={"document_text": text,
                                                                "analysis_type": "summary"}).id
    finally:
        app.close()
    page.goto(stack["url"] + "/")
    open_tab(page, "Tasks")
    search = page.get_by_placeholder("name, id, file, address…")  # the Tasks tab's box (tables have a "Search" too)
    search.fill(task_id)
    search.press("Enter")
    wait_for(lambda: (history.get_task(stack["client"], task_id) or {}).get("state") == "PROGRESS",
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


def test_saved_chain_runs_again_on_the_workflows_page(stack, page, celery_app, tmp_path):
    from app import workflows
    from app.workflows import saved

    stack["ai"].reset()
    wf = workflows.Workflow.from_dict({"name": "post-to-team", "kind": "chain", "steps": [
        {"task": "app.tasks.ai_tasks.generate_content",
         "kwargs": {"content_type": "social_post", "topic": "the new release"}},
        {"task": "app.tasks.email_tasks.send_email",
         "kwargs": {"to_email": "team@example.com", "subject": "Today's post"}, "feed": {"body": "content"}}]})
    celery_app.loader.import_default_modules()  # the task modules, so the check knows every step
    saved.save(celery_app, stack["client"], wf, "admin")  # checked against the console's own tasks
    page.goto(stack["url"] + "/workflows")
    open_tab(page, "Saved workflows")
    page.get_by_role("button", name="Run again").click()
    page.get_by_text("Running").first.wait_for()
    run = wait_for(lambda: saved.store.runs(stack["client"], "post-to-team"), timeout_s=20)[0]
    wait_for(lambda: all((history.get_task(stack["client"], i) or {}).get("state") == "SUCCESS"
                         for i in run["step_ids"]), timeout_s=60)
    page.get_by_text("post-to-team · chain · 2 steps").first.wait_for()
    # the run view's next refresh (after the SUCCESS above) draws the finished steps, their buttons named
    page.get_by_role("button", name=re.compile("Open step 2: send_email")).first.wait_for(timeout=30_000)
    shot = tmp_path / "workflows.png"
    page.set_viewport_size({"width": 1400, "height": 1350})  # the run, its graph and step buttons
    page.wait_for_timeout(1_000)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("WRITE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, SCREENSHOT)
