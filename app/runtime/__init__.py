"""The composition root: what one process of the console runs with, built once from the settings.

Every process (the Streamlit console, each worker, beat, the event ingester) gets its parts from
`get()`::

    from app import runtime

    rt = runtime.get()          # built on first use, thread-safe; signal handlers connected
    rt.celery                   # the console's Celery app (`app.runtime.celery_app.ConsoleCelery`)
    rt.settings                 # `config.settings.Settings`
    rt.redis                    # Redis client of the console's data (the result backend's server)
    rt.writer                   # `app.store.writer.HistoryWriter` of this process
    rt.recorder                 # `app.telemetry.recorder.SignalRecorder` feeding that writer

Where it is built: workers and beat import ``config.celery_config`` (``celery -A
config.celery_config ...``), whose ``celery_app`` is ``runtime.get().celery``; the console's pages
reach it through `app.ui.resources.celery()`; the ingester calls `get()` in its ``main``. A prefork
worker builds it in the parent before forking: each pool process inherits it and its writer starts
a client and sender thread of its own on the first change (`HistoryWriter` is fork-safe).

Signals, like Django's ``AppConfig.ready()``: `Runtime.ready` connects the history recorder's
handlers (publish, received, prerun, postrun, failure, retry, revoked, worker shutdown), the AMQP
timestamp on publish and the default schedule's seeding at ``beat_init``, explicitly; no module
connects anything when imported. `Runtime.close` disconnects them, flushes and closes the writer and
closes the Redis client.

Tests build their own with ``Runtime(settings).ready()`` and ``close()`` it, or `reset()` the
process's one.
"""
from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING

from config.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.runtime.celery_app import ConsoleCelery
    from app.store.clients import Client
    from app.store.writer import HistoryWriter
    from app.telemetry.recorder import SignalRecorder


class Runtime:
    """The parts of one process, each built on first use (thread-safe) from `settings`.

    Args:
        settings: the settings to build from.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.RLock()
        self._celery: ConsoleCelery | None = None
        self._redis: Client | None = None
        self._writer: HistoryWriter | None = None
        self._recorder: SignalRecorder | None = None
        self._signals = None
        self._connected = False

    @property
    def celery(self) -> ConsoleCelery:
        """The console's Celery app (`app.runtime.celery_app.build`)."""
        app = self._celery
        if app is None:
            with self._lock:
                if self._celery is None:
                    from app.runtime import celery_app

                    self._celery = celery_app.build(self.settings)
                app = self._celery
        return app

    @property
    def redis(self) -> Client:
        """The client of the console's own data (history, alerts, accounts): the result backend's
        Redis, decode_responses=True. Safe to share between threads; redis-py opens new
        connections in a forked child."""
        client = self._redis
        if client is None:
            with self._lock:
                if self._redis is None:
                    from app.store.clients import redis_from_url

                    self._redis = redis_from_url(self.settings.result_backend)
                client = self._redis
        return client

    @property
    def writer(self) -> HistoryWriter:
        """This process's history writer: its own client of the result backend's Redis,
        HISTORY_RETENTION_S and HISTORY_MAX_TASKS."""
        writer = self._writer
        if writer is None:
            with self._lock:
                if self._writer is None:
                    from app.store.clients import redis_from_url
                    from app.store.writer import HistoryWriter

                    url = self.settings.result_backend
                    self._writer = HistoryWriter(lambda: redis_from_url(url),
                                                 retention_s=self.settings.HISTORY_RETENTION_S,
                                                 max_tasks=self.settings.HISTORY_MAX_TASKS)
                writer = self._writer
        return writer

    @property
    def recorder(self) -> SignalRecorder:
        """The Celery-signal adapter writing into `writer` (connected by `ready`)."""
        recorder = self._recorder
        if recorder is None:
            with self._lock:
                if self._recorder is None:
                    from app.telemetry.recorder import SignalRecorder

                    self._recorder = SignalRecorder(self.writer)
                recorder = self._recorder
        return recorder

    def ready(self) -> Runtime:
        """Build the Celery app and connect the signal handlers (module docstring); once.
        Returns self."""
        with self._lock:
            if not self._connected:
                from app.runtime import signals

                self.celery  # noqa: B018 - the app exists before any handler can fire
                self._signals = signals.ConsoleSignals(self.settings)
                self.recorder.connect()
                self._signals.connect()
                self._connected = True
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        """Disconnect the signal handlers, send what the writer holds (waits at most `timeout_s`)
        and close it, close the Redis client. Idempotent."""
        with self._lock:
            if self._connected:
                self.recorder.disconnect()
                self._signals.disconnect()
                self._connected = False
            writer, redis_client = self._writer, self._redis
            self._redis = None
        if writer is not None:
            writer.close(timeout_s)
        if redis_client is not None:
            redis_client.close()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.RLock()


#: The process's runtime (`get`), and the lock that builds it once. The only process-wide state of
#: the application: everything else hangs from it.
_process: dict[str, Runtime] = {}
_process_lock = threading.Lock()


def get() -> Runtime:
    """This process's runtime: built from `config.settings.get_settings()` and made ready on
    the first call (thread-safe); flushed and closed at interpreter exit."""
    rt = _process.get("runtime")
    if rt is None:
        with _process_lock:
            rt = _process.get("runtime")
            if rt is None:
                rt = Runtime(get_settings()).ready()
                _process["runtime"] = rt
                atexit.register(rt.close)
    return rt


def reset() -> None:
    """Close and forget this process's runtime; the next `get` builds a new one (for tests)."""
    with _process_lock:
        rt = _process.pop("runtime", None)
    if rt is not None:
        atexit.unregister(rt.close)
        rt.close()


def _after_fork_in_child() -> None:
    """A lock held by another thread at fork time stays held in the child: start with new ones."""
    global _process_lock
    _process_lock = threading.Lock()
    rt = _process.get("runtime")
    if rt is not None:
        rt._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
