"""The composition root (`app.runtime`) and the history writer object it owns, on the session's Redis.

A runtime built here is not the process's one (`runtime.get()`, which the session's worker uses):
its handlers are connected only where a test says so, and each test closes what it built.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid

from celery import signals

from app import runtime
from app.runtime.celery_app import ConsoleCelery
from app.store import history
from config.celery_settings import QUEUES
from config.settings import get_settings
from tests.conftest import wait_for


def _connected(signal_, handler) -> bool:
    """Whether `handler` receives `signal_` (sent without a particular sender)."""
    return handler in signal_._live_receivers(None)


def test_get_returns_one_ready_runtime_per_process():
    rt = runtime.get()
    assert runtime.get() is rt
    assert isinstance(rt.celery, ConsoleCelery) and rt.celery.main == "console"
    assert [q.name for q in rt.celery.conf.task_queues] == list(QUEUES)
    assert rt.celery.conf.task_routes["app.tasks.file_tasks.*"] == {"queue": "file_processing_queue"}
    assert rt.writer is rt.recorder.writer
    assert _connected(signals.task_prerun, rt.recorder.on_prerun)
    assert _connected(signals.before_task_publish, rt.recorder.on_publish)


def test_the_parts_are_built_once_under_concurrent_first_use():
    rt = runtime.Runtime(get_settings())
    seen: list = []
    barrier = threading.Barrier(8)

    def first_use():
        barrier.wait()
        seen.append((rt.writer, rt.redis, rt.recorder))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    try:
        assert len(seen) == 8 and len({tuple(map(id, parts)) for parts in seen}) == 1
    finally:
        rt.close()


def test_ready_connects_the_handlers_and_close_disconnects_them():
    rt = runtime.Runtime(get_settings())
    assert not _connected(signals.task_postrun, rt.recorder.on_postrun)  # nothing at build time
    rt.ready()
    rt.ready()  # once
    try:
        assert signals.task_postrun._live_receivers(None).count(rt.recorder.on_postrun) == 1
        assert _connected(signals.beat_init, rt._signals.seed_schedule)
        assert _connected(signals.before_task_publish, rt._signals.stamp)
    finally:
        rt.close()
    assert not _connected(signals.task_postrun, rt.recorder.on_postrun)
    assert not _connected(signals.beat_init, rt._signals.seed_schedule)
    assert not _connected(signals.before_task_publish, rt._signals.stamp)
    process = runtime.get()  # the process's handlers stay connected
    assert _connected(signals.task_postrun, process.recorder.on_postrun)
    assert _connected(signals.before_task_publish, process._signals.stamp)
    assert _connected(signals.beat_init, process._signals.seed_schedule)


def _history_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "history-writer"}


def test_close_sends_what_the_writer_holds_and_ends_its_thread(redis_client):
    rt = runtime.Runtime(get_settings())
    tid, before = str(uuid.uuid4()), _history_threads()
    rt.writer.write(tid, "STARTED", {"started_at": time.time()}, name="runtime.close")
    mine = _history_threads() - before
    assert len(mine) == 1  # the writer's sender, started by its first change
    rt.close()
    assert (history.get_task(redis_client, tid) or {}).get("state") == "STARTED"
    assert not any(t.is_alive() for t in mine)


def test_a_forked_child_writes_through_its_own_client_and_thread(redis_client):
    rt = runtime.Runtime(get_settings())
    parent_tid, child_tid = str(uuid.uuid4()), str(uuid.uuid4())
    rt.writer.write(parent_tid, "STARTED", {"started_at": time.time()}, name="runtime.fork")
    assert rt.writer.flush()
    pid = os.fork()
    if pid == 0:  # the child: as a prefork pool process after the parent wrote
        code = 1
        try:
            rt.writer.write(child_tid, "SUCCESS", {"finished_at": time.time(), "runtime_s": 0.1},
                            name="runtime.fork")
            code = 0 if rt.writer.flush(10) else 3
        finally:
            os._exit(code)
    try:
        def exited():
            done, status = os.waitpid(pid, os.WNOHANG)
            return done and (os.waitstatus_to_exitcode(status),)
        assert wait_for(exited, timeout_s=20)[0] == 0
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    assert history.get_task(redis_client, child_tid)["state"] == "SUCCESS"
    # the parent's writer still works after the fork
    rt.writer.write(parent_tid, "SUCCESS", {"finished_at": time.time(), "runtime_s": 0.2}, name="runtime.fork")
    assert rt.writer.flush()
    assert history.get_task(redis_client, parent_tid)["state"] == "SUCCESS"
    rt.close()
