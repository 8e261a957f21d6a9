"""A first-time operator's walk through every page in headless Chromium, at 1400 and 1024 px wide.

Against the real stack (`python -m app`, the shared `stack` of tests/browser_stack.py), signed in as
admin: real work is sent from the pages that send it (a health check, a document, an e-mail, a
report, a schedule entry), then every page is looked at and fails the test when it shows

- a stray ``None`` / ``null`` on a line of its own (Streamlit's magic writing a value out),
- a Python repr (``<… object at 0x…>``, ``<class '…'>``, ``datetime.datetime(…)``) or a traceback,
  outside the code blocks that show task arguments and results on purpose,
- a chart narrower or shorter than `CHART_MIN_PX`.

A full-page screenshot of each page at each width is written to ``<tmp>/screens/<width>-<page>.png``
for review (the path is printed).
"""
from __future__ import annotations

import re
import time

import pytest

from tests.conftest import CORPUS, wait_for
from tests.browser_stack import click_first_row, open_tab

pytestmark = pytest.mark.browser

PAGES = ["task_monitor", "file_processing", "email", "ai", "reports", "schedules", "audit", "alerts", "issues"]
WIDTHS = (1400, 1024)
CHART_MIN_PX = {"width": 300, "height": 200}
STRAY = re.compile(r"(?m)^\s*(None|null)\s*$")
REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>|<class '[\w.]+'>|datetime\.datetime\(|Traceback \(most recent")
CSV = "day,shop,amount\n2024-03-01,A,10\n2024-03-02,B,12.5\n"
#: The page's text without code blocks (task arguments and results are shown as code on purpose).
TEXT_JS = """() => { const b = document.body.cloneNode(true);
  b.querySelectorAll('[data-testid="stCode"], pre, code').forEach(e => e.remove());
  return b.innerText; }"""
#: The boxes of the visible charts (visible as Playwright means it: a non-empty box, not hidden).
CHART_BOXES_JS = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
  .map(e => [e.getBoundingClientRect(), getComputedStyle(e).visibility])
  .filter(([r, v]) => r.width > 0 && r.height > 0 && v !== "hidden")
  .map(([r]) => ({x: r.x, y: r.y, width: r.width, height: r.height}))"""
#: The page's text without its charts (redrawn on every refresh), to tell when a page is drawn.
SETTLE_JS = TEXT_JS.replace('[data-testid="stCode"], pre, code', '[data-testid="stPlotlyChart"]')


def settle(pg, quiet_s: float = 2.0, timeout_s: float = 60) -> None:
    """Wait until the page is drawn: a title, no loading skeleton, and the same text (figures and
    charts aside: the live parts of the Task Monitor redraw every 2 s) for `quiet_s`."""
    pg.locator("h1").first.wait_for()
    state = {"last": None, "since": time.monotonic()}

    def quiet() -> bool:
        busy = pg.locator('[data-testid="stSkeleton"]').count()
        now = re.sub(r"\d", "", pg.evaluate(SETTLE_JS))
        if busy or now != state["last"]:
            state.update(last=now, since=time.monotonic())
            return False
        return time.monotonic() - state["since"] >= quiet_s

    wait_for(quiet, timeout_s=timeout_s, interval_s=0.25)


def check(pg, where: str) -> None:
    text = pg.evaluate(TEXT_JS)
    assert not STRAY.search(text), f"{where}: a stray None/null: …{text[max(0, STRAY.search(text).start() - 200):][:400]}"
    assert not REPR.search(text), f"{where}: a Python repr or traceback: {REPR.search(text).group(0)}"
    for box in pg.evaluate(CHART_BOXES_JS):  # measured in one step: a refresh may replace a chart meanwhile
        assert box["width"] >= CHART_MIN_PX["width"] and box["height"] >= CHART_MIN_PX["height"], \
            f"{where}: a chart of {box}"


def send_work(pg, url: str, corpus, tmp_path) -> None:
    """Real work from each page that sends some, each waited for until it succeeded."""
    pg.goto(f"{url}/")  # the Task Monitor is the default page
    settle(pg)  # the whole page, not only its first paint (the queues), before the first click
    pg.get_by_role("button", name="Send health check").click()
    pg.get_by_text("Health check sent").wait_for()
    open_tab(pg, "Tasks")  # a task's "Why is it stuck?" opens the diagnosis with its id
    grid = pg.locator('[data-testid="stDataFrame"]:visible').first
    grid.wait_for()
    click_first_row(pg, grid)
    pg.get_by_role("button", name="Why is it stuck?").click()
    pg.get_by_text(re.compile(r"^History state ")).wait_for()
    task_id = pg.get_by_label("Task id to diagnose").input_value()
    assert re.fullmatch(r"[0-9a-f-]{36}", task_id), task_id

    pg.goto(f"{url}/file_processing")
    pg.locator("input[type=file]").set_input_files(str(corpus / "pdf" / "google-docs_text_image.pdf"))
    pg.locator('[data-testid="stFileChip"]').first.wait_for()
    pg.get_by_role("button", name="Process").click()
    pg.get_by_text("Metadata", exact=True).first.wait_for(timeout=90_000)

    pg.goto(f"{url}/email")
    pg.get_by_label("To", exact=True).first.fill("ann@example.com")
    pg.get_by_label("Subject", exact=True).first.fill("Walk-through")
    pg.get_by_label("Text body", exact=True).first.fill("Hello from the walk-through.")
    pg.get_by_role("button", name="Send", exact=True).click()
    pg.get_by_text(re.compile(r"Queued email")).wait_for()

    data = tmp_path / "sales.csv"
    data.write_text(CSV)
    pg.goto(f"{url}/reports")
    pg.locator("input[type=file]").first.set_input_files(str(data))
    pg.get_by_role("button", name="Create", exact=True).wait_for()
    pg.get_by_role("button", name="Create", exact=True).click()
    pg.get_by_role("button", name="Download HTML").wait_for(timeout=90_000)

    pg.goto(f"{url}/schedules")
    pg.get_by_label("Name", exact=True).fill("walk-through hourly")
    pg.get_by_role("button", name="Save", exact=True).click()
    pg.get_by_text("walk-through hourly saved").wait_for()


@pytest.fixture(scope="module")
def worked(stack, page, tmp_path_factory):
    send_work(page, stack["url"], CORPUS, tmp_path_factory.mktemp("walk"))
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_reads_clean_at_this_width(stack, worked, width, tmp_path_factory):
    shots = tmp_path_factory.mktemp("screens", numbered=False) if width == WIDTHS[0] else \
        tmp_path_factory.getbasetemp() / "screens"
    pg = worked
    pg.set_viewport_size({"width": width, "height": 1600})
    for name in PAGES:
        pg.goto(f"{stack['url']}/{'' if name == PAGES[0] else name}")  # the first page lives at /
        settle(pg)
        check(pg, f"{name} at {width} px")
        pg.screenshot(path=str(shots / f"{width}-{name}.png"), full_page=True)
        if name == "task_monitor":
            open_tab(pg, "Tasks")
            settle(pg)
            check(pg, f"{name} tasks at {width} px")
            pg.screenshot(path=str(shots / f"{width}-{name}-tasks.png"), full_page=True)
    print(f"screenshots in {shots}")
    assert len(list(shots.glob(f"{width}-*.png"))) == len(PAGES) + 1
