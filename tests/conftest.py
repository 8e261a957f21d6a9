"""Shared fixtures: one real Redis per test session, one real Celery worker, corpus paths.

The Redis server is started in `pytest_configure`, before any test module imports the settings, so
REDIS_URL and DATA_DIR point every part of the system (console code, worker, recorder) at it and
nothing touches the machine's shared Redis.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures_smtp", "tests.fixtures_ai", "tests.fixtures_brokers",
                  "tests.fixtures_storage", "tests.fixtures_api", "tests.last_use", "tests.browser_stack"]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
_state: dict = {}


def pytest_configure(config):
    from app.launcher import redis_server

    tmp = Path(tempfile.mkdtemp(prefix="console-tests-"))
    port = redis_server.free_port()
    _state["proc"] = redis_server.start(port, tmp / "redis", persist=False)
    _state["tmp"] = tmp
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    os.environ["DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("WORKER_HEARTBEAT_S", "1")
    for key in ("SMTP_HOST", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL",
                "OPENAI_BASE_URL", "CONSOLE_PASSWORD"):
        os.environ.pop(key, None)
    # Result subscriptions left at exit would retry 20 times, 1 s apart, against the stopped server.
    from app import runtime

    celery_app = runtime.get().celery

    celery_app.conf.result_backend_transport_options = dict(
        celery_app.conf.result_backend_transport_options,
        retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1})


def pytest_unconfigure(config):
    import gc

    gc.collect()  # drop AsyncResults (and their subscriptions) while Redis still answers
    _unsubscribe_live_results()
    proc = _state.get("proc")
    if proc:
        proc.terminate()
        proc.wait(10)
    if _state.get("tmp"):
        shutil.rmtree(_state["tmp"], ignore_errors=True)


def _unsubscribe_live_results() -> None:
    """End the result subscriptions of AsyncResults still referenced somewhere (Streamlit sessions,
    failed-test tracebacks), while Redis still answers: their __del__ at exit then has nothing to
    unsubscribe, instead of retrying against the stopped server ("Retry limit exceeded while trying
    to reconnect to the Celery result store backend")."""
    import gc

    from celery.result import AsyncResult

    for obj in gc.get_objects():
        if isinstance(obj, AsyncResult) and obj.backend is not None:
            try:
                obj.backend.remove_pending_result(obj)
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["DATA_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture()
def redis_client(redis_url):
    """A client on the session's Redis (decode_responses=True)."""
    from app.store.clients import redis_from_url

    client = redis_from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def celery_app():
    from app import runtime

    return runtime.get().celery


@pytest.fixture(scope="session")
def celery_worker(celery_app, redis_url):
    """A real worker thread (threads pool, 4 slots) consuming all five queues for the session."""
    from celery.contrib.testing.worker import start_worker

    from config.celery_settings import QUEUES

    with start_worker(celery_app, pool="threads", concurrency=4, queues=list(QUEUES),
                      perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING") as worker:
        yield worker


@pytest.fixture()
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"test corpus not found at {CORPUS} (../shared must sit beside the checkout)")
    return CORPUS


def wait_for(predicate, timeout_s: float = 20.0, interval_s: float = 0.1):
    """Poll `predicate` until it returns a truthy value; fail the test on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"condition not met within {timeout_s} s")


@pytest.fixture()
def stored(data_dir):
    """Copy a file into DATA_DIR/uploads the way the console does; returns its stored path (str)."""
    from app.files import storage

    def _store(path: Path, name: str | None = None) -> str:
        return str(storage.save_upload(data_dir, name or path.name, Path(path).read_bytes(),
                                       max_bytes=200 * 1024 * 1024).path)
    return _store


@pytest.fixture(autouse=True)
def _history_settled():
    """History writes are queued per process (≤ 50 ms); let one test's writes land before the next."""
    yield
    from app import runtime

    runtime.get().writer.flush()
