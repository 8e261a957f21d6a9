"""The browser tests' stacks and Chromium, in one place (a pytest plugin listed in tests/conftest.py).

- `stack`: one real `python -m app` (embedded Redis, five workers, beat, console, API, metrics),
  shared by every test that asks for it. Sign-in is on (built-in accounts plus the shared
  CONSOLE_PASSWORD as "admin"); its AI workers talk to the fake AI server (tests/fixtures_ai.py).
  It is started by the first test that uses it and stopped with Ctrl-C (SIGINT) right after the last
  one (`tests.last_use`), so it does not load the machine during the rest of the suite. Tests marked
  `spoils_stack` (they throttle 127.0.0.1's sign-ins or stop the stack) run after every other test
  that uses it. The yielded dict: url, proc, data, env, redis_url, client (a Redis client on the stack's store),
  ai (the fake AI server: `reset()` it before scripting it).
- `browser`: headless Chromium through Playwright, shared by consecutive modules that use it
  (`SharedBrowser`); contexts a test left open are closed after it.
- `page`: a page signed in as admin on `stack`, one per test module.
- `streamlit_console`: the console alone (`streamlit run streamlit_app.py`) with a given environment.

Plain helpers: `stop_group`, `new_page`, `sign_in`, `has_session_cookie`, `open_tab`, `click_first_row`, `health`, `get_status`.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_for
from tests.last_use import stop_after_last_use

ADMIN_PASSWORD = "stack admin password 1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
#: The marker of tests that leave the shared stack unusable for the others.
SPOILS = "spoils_stack"
_BROWSER = pytest.StashKey["SharedBrowser"]()


def get_status(url: str) -> int:
    """The HTTP status of a GET of `url` (0 when nothing answers within 2 s)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except OSError:
        return 0


def health(url: str) -> bool:
    """True once the Streamlit server at `url` (``http://host:port``) answers its health check."""
    return get_status(url + "/_stcore/health") == 200


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait_s: float = 15) -> None:
    """`sig` to `proc`'s process group; SIGKILL to the group after `wait_s` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextmanager
def running_stack(data: Path, extra_env: dict | None = None):
    """`python -m app` with its data in `data` (plus `extra_env`), once its console answers and a
    worker consumes every queue; stopped with Ctrl-C (SIGINT) on exit, SIGKILL after 40 s.
    Yields the dict described in the module's docstring."""
    from app.launcher import redis_server
    from app.monitor import workers
    from app.store.clients import redis_from_url
    from config.celery_settings import QUEUES

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
        url = f"http://127.0.0.1:{cport}"
        wait_for(lambda: health(url), timeout_s=90, interval_s=0.25)

        def all_queues_consumed():
            try:
                online = workers.consumers_by_queue(workers.list_workers(client))
            except Exception:  # noqa: BLE001 - Redis still starting
                return False
            return set(QUEUES) <= set(online)
        wait_for(all_queues_consumed, timeout_s=90, interval_s=0.25)
        yield {"url": url, "proc": proc, "data": data, "env": env, "redis_url": redis_url, "client": client}
    finally:
        stop_group(proc, signal.SIGINT, 40)
        client.close()
        log.close()


@contextmanager
def streamlit_console(env: dict, log_path: Path, timeout_s: float = 90):
    """The console alone, `streamlit run streamlit_app.py` on a free port with environment `env`
    (`env["PORT"]` when given); yields its URL (``http://127.0.0.1:<port>``) once it answers its
    health check; SIGTERM to its process group on exit (SIGKILL after 20 s)."""
    from app.launcher import redis_server

    port = int(env.get("PORT") or redis_server.free_port())
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: health(url), timeout_s=timeout_s, interval_s=0.25)
        yield url
    finally:
        stop_group(proc, signal.SIGTERM, 20)
        log.close()


#: The fixture every user of the shared stack has among its fixtures (`stack` requests it): other
#: fixtures named `stack` (tests/faults, tests/test_monitor_events.py) do not.
SHARED = "shared_app_stack"


def _uses_stack(item) -> bool:
    return SHARED in getattr(item, "fixturenames", ())


def pytest_configure(config):
    config.addinivalue_line("markers", f"{SPOILS}: leaves the shared stack unusable for other tests "
                                       "(throttles sign-ins, stops it): runs after every other test using it")


def pytest_collection_modifyitems(config, items):
    """Tests marked `spoils_stack` move (in their order) to just after the last other user of the stack."""
    spoil = [i for i in items if i.get_closest_marker(SPOILS)]
    if not spoil:
        return
    rest = [i for i in items if not i.get_closest_marker(SPOILS)]
    users = [n for n, i in enumerate(rest) if _uses_stack(i)]
    at = users[-1] + 1 if users else len(rest)
    items[:] = rest[:at] + spoil + rest[at:]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """Chromium is stopped before a test of another module that does not use it."""
    chromium = item.config.stash.get(_BROWSER, None)
    if chromium is not None and chromium.value is not None and (nextitem is None or (
            getattr(nextitem, "module", None) is not getattr(item, "module", None)
            and "browser" not in nextitem.fixturenames)):
        chromium.stop()


def pytest_sessionfinish(session):
    """What a run stopped early (-x, Ctrl-C) left running."""
    chromium = session.config.stash.get(_BROWSER, None)
    if chromium is not None:
        chromium.stop()


@pytest.fixture(scope="session")
def shared_app_stack(request, tmp_path_factory, _fake_ai_server):
    """The shared `python -m app` (see the module's docstring), stopped after its last user
    (`tests.last_use`); its AI workers split documents into ~100-token parts."""
    from tests.fixtures_ai import ANTHROPIC_KEY, OPENAI_KEY

    server = _fake_ai_server
    running = running_stack(tmp_path_factory.mktemp("stack"), {
        "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": OPENAI_KEY,
        "AI_DOCUMENT_CHUNK_TOKENS": "100", "AI_REQUEST_TIMEOUT_S": "20"})
    value = {**running.__enter__(), "ai": server}
    stopped = []

    def stop() -> None:
        if not stopped:
            stopped.append(True)
            running.__exit__(None, None, None)
    stop_after_last_use(request, {SHARED}, stop)
    yield value
    stop()


@pytest.fixture(scope="session")
def stack(shared_app_stack):
    """The shared stack: url, proc, data, env, redis_url, client, ai (see the module's docstring)."""
    return shared_app_stack


class SharedBrowser:
    """Headless Chromium through Playwright, kept while consecutive modules use it.

    Playwright's sync API runs an event loop in this thread while it is started (asyncio.run()
    refuses to run then), so it must not outlive the browser tests: it is stopped as soon as the
    next test is in another module and does not use `browser`."""

    def __init__(self):
        self._pw = None
        self.value = None

    def get(self):
        if self.value is None:
            from playwright.sync_api import sync_playwright

            self._pw = sync_playwright().start()
            self.value = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        return self.value

    def stop(self) -> None:
        pw, browser, self._pw, self.value = self._pw, self.value, None, None
        try:
            if browser is not None:
                browser.close()
        finally:
            if pw is not None:
                pw.stop()


@pytest.fixture(scope="module")
def browser(request):
    """Headless Chromium (Playwright), shared by consecutive modules that use it (`SharedBrowser`)."""
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does this)")
    shared = request.config.stash.get(_BROWSER, None)
    if shared is None:
        shared = request.config.stash[_BROWSER] = SharedBrowser()
    return shared.get()


@pytest.fixture(autouse=True)
def _own_contexts_closed(request):
    """Browser contexts a test opened and left open (it failed half-way) are closed after it: their
    pages would go on refreshing against the shared stack during the next tests."""
    if "browser" not in request.fixturenames:
        yield
        return
    chromium = request.getfixturevalue("browser")
    before = set(chromium.contexts)
    yield
    for ctx in chromium.contexts:
        if ctx not in before:
            ctx.close()


def new_page(browser, timeout_ms: int = 60_000):
    """A page in a fresh browser context (its own cookies: nobody signed in)."""
    pg = browser.new_context().new_page()
    pg.set_default_timeout(timeout_ms)
    return pg


def sign_in(pg, url: str, name: str, password: str) -> None:
    """Fill and send the sign-in form at `url` (does not wait for the outcome)."""
    pg.goto(url + "/")
    pg.get_by_label("Account", exact=True).fill(name)
    pg.get_by_label("Password", exact=True).fill(password)
    pg.get_by_role("button", name="Sign in").click()


def has_session_cookie(pg) -> None:
    """Wait (at most 30 s) until `pg`'s browser holds the session cookie. It comes with a request the
    page makes after the sign-in run: a navigation before it lands opens a session without it."""
    wait_for(lambda: any(c["name"] == "cc_session" for c in pg.context.cookies()), timeout_s=30)


@pytest.fixture(scope="module")
def page(stack, browser):
    """A page signed in as admin on the shared stack, one per module."""
    pg = new_page(browser)
    sign_in(pg, stack["url"], "admin", ADMIN_PASSWORD)
    pg.get_by_text("Signed in as").wait_for()
    has_session_cookie(pg)
    yield pg
    pg.context.close()


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
