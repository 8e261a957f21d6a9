"""The Task Monitor's first paint in headless Chromium: for a new browser (nothing cached) and for a
reload, the queue names and the "no consumer" error are on screen while no chart is on the page yet;
a click right after the queue names appear (a sample-task button, a tab) is never lost.

The console is `streamlit run streamlit_app.py` on the suite's Redis (no sign-in), with one extra
monitored queue holding a message and no consumer. A script injected before the page loads watches
the DOM and notes, at the first moment every queue name is visible, whether a chart's element (keyed
``chart_*``, present from its placeholder on) was already on the page; the order, not a timing, is asserted.
"""
from __future__ import annotations

import os

import pytest

from tests.browser_stack import streamlit_console
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.browser
QUEUES = ("email_queue", "file_processing_queue", "ai_queue", "reports_queue", "default_queue", "first_paint_q")
STUCK = "first_paint_q"

#: Runs in the page before its own scripts: notes when the names, the error and a chart show up.
WATCH_JS = """
(() => {
  const names = %s;
  const seen = window.__firstPaint = {};
  const look = () => {
    const text = document.body ? document.body.innerText : "";
    const charts = document.querySelectorAll('[class*="st-key-chart_"], [data-testid="stPlotlyChart"]').length;
    if (!seen.queues && names.every(n => text.includes(n))) seen.queues = {at: performance.now(), charts};
    if (!seen.error && text.includes("%s has 1 waiting message")) seen.error = {at: performance.now(), charts};
    if (!seen.chart && charts) seen.chart = {at: performance.now()};
  };
  new MutationObserver(look).observe(document, {subtree: true, childList: true, characterData: true});
})();
""" % (list(QUEUES), STUCK)


@pytest.fixture(scope="module")
def console(redis_url, data_dir):
    from app.store.clients import redis_from_url

    redis_client = redis_from_url(redis_url)
    redis_client.delete(STUCK)
    redis_client.lpush(STUCK, '{"body": "", "headers": {"task": "never.consumed"}}')
    env = {k: v for k, v in os.environ.items() if k not in ("CONSOLE_PASSWORD", "CONSOLE_AUTH")}
    env.update(REDIS_URL=redis_url, DATA_DIR=str(data_dir), MONITOR_QUEUES=",".join(QUEUES), PYTHONPATH=str(ROOT))
    try:
        with streamlit_console(env, data_dir / "first_paint_console.log") as url:
            yield url
    finally:
        redis_client.delete(STUCK)
        redis_client.close()


def _seen(page) -> dict:
    page.wait_for_function("() => window.__firstPaint && window.__firstPaint.chart && window.__firstPaint.queues "
                           "&& window.__firstPaint.error", timeout=90_000, polling=50)
    return page.evaluate("() => window.__firstPaint")


def test_queues_and_no_consumer_error_show_before_the_charts_new_browser_and_reload(console, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        ctx.add_init_script(WATCH_JS)
        page = ctx.new_page()
        page.goto(console)  # a new browser: every script chunk fetched, a new session
        first = _seen(page)
        page.reload()  # cached scripts, a new session again
        again = _seen(page)
    finally:
        ctx.close()
    for seen in (first, again):
        assert seen["queues"]["charts"] == 0, seen  # the names were on screen with no chart on the page
        assert seen["error"]["charts"] == 0, seen
        assert seen["queues"]["at"] < seen["chart"]["at"], seen


def _queues_shown(page) -> None:
    page.wait_for_function("names => names.every(n => document.body.innerText.includes(n))", arg=list(QUEUES),
                           timeout=90_000, polling=20)


def test_a_button_clicked_as_soon_as_the_queues_show_is_not_lost(console, browser):
    """Clicked in the first run's window, before the full run that follows it: the click's run sends
    the task and toasts it, and the rest of the page is drawn too."""
    for _ in range(2):  # a new browser, then a new session in it with every script cached
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            page.goto(console)
            _queues_shown(page)
            page.get_by_role("button", name="Send health check").click(timeout=30_000)
            page.get_by_text("Health check sent").wait_for(timeout=60_000)
            page.wait_for_function("() => !!document.querySelector('[class*=\"st-key-chart_\"]')", timeout=90_000)
        finally:
            ctx.close()


def test_a_tab_selected_as_soon_as_the_queues_show_stays_selected(console, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(console)
        _queues_shown(page)
        page.get_by_role("tab", name="Workers & queues").click(timeout=30_000)
        page.get_by_text("Pause, resume and peek").wait_for(timeout=60_000)
        page.wait_for_timeout(2500)  # past the follow-up run and a refresh
        assert page.get_by_role("tab", name="Workers & queues").get_attribute("aria-selected") == "true"
    finally:
        ctx.close()


def test_a_selected_tab_keeps_refreshing_and_the_hidden_overview_does_not(console, browser):
    """Timed refreshes skip the tabs that are not selected (app.ui.tab_refresh): the selected Tasks
    tab keeps its table through several 2 s refreshes, and the Overview is drawn again on return."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(console)
        page.wait_for_function("() => !!document.querySelector('[class*=\"st-key-chart_\"]')", timeout=90_000)
        tab = page.get_by_role("tab", name="Tasks")
        wait_for(lambda: tab.count() == 1)
        tab.click()
        caption = page.get_by_text("select a row for its detail")
        caption.wait_for(timeout=60_000)
        page.wait_for_timeout(5000)  # two refreshes of the Tasks tab's fragment, two skipped Overview ones
        assert caption.is_visible()
        page.get_by_role("tab", name="Overview").click()
        page.get_by_text("first_paint_q has 1 waiting message").wait_for(timeout=60_000)
    finally:
        ctx.close()
