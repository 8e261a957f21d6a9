"""A real beat process (RedBeat) with the session's real worker and Redis.

The probe task below is the measuring instrument: each run appends the time it ran to a Redis list
named after its marker argument, so the tests read run times independently of beat and history.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from app.store import keys
from app.store.clients import redis_from_url
from app import schedules
from config.celery_config import celery_app
from config.celery_settings import DEFAULT_SCHEDULE
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")
TICK_S = 1.0


@celery_app.task(name="tests.schedule_probe")
def schedule_probe(marker: str) -> float:
    now = time.time()
    with redis_from_url(os.environ["REDIS_URL"]) as client:
        client.rpush(f"test:probe:{marker}", repr(now))
    return now


def runs(client, marker: str) -> list[float]:
    return [float(x) for x in client.lrange(f"test:probe:{marker}", 0, -1)]


def lock_key() -> str:
    from redbeat.schedulers import ensure_conf

    return ensure_conf(celery_app).lock_key


class Beats:
    """Starts beat subprocesses exactly as the Procfile does; stops them all at teardown."""

    def __init__(self, tmp_path):
        self.tmp_path, self.procs = tmp_path, []

    def start(self) -> subprocess.Popen:
        log = open(self.tmp_path / f"beat{len(self.procs)}.log", "wb")
        env = dict(os.environ, BEAT_MAX_LOOP_INTERVAL_S=str(TICK_S))
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config.celery_config", "beat",
                                 "-S", "redbeat.RedBeatScheduler", "--loglevel", "INFO"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def log(self, i: int) -> str:
        return (self.tmp_path / f"beat{i}.log").read_text(errors="replace")


def clear_entries() -> None:
    for e in schedules.list_entries(celery_app):
        schedules.delete_entry(celery_app, e.name)


@pytest.fixture()
def beats(tmp_path, redis_client):
    """Beats a test starts itself (restarts, two at once); all stopped at teardown."""
    clear_entries()
    b = Beats(tmp_path)
    yield b
    for p in b.procs:
        b.stop(p)
    clear_entries()
    redis_client.delete(lock_key())


@pytest.fixture(scope="class")
def one_beat(tmp_path_factory, redis_url):
    """One beat shared by a class of tests (a beat takes seconds to start on a busy machine)."""
    client = redis_from_url(redis_url)
    clear_entries()
    b = Beats(tmp_path_factory.mktemp("beat"))
    proc = started(b, client)
    yield proc
    b.stop(proc)
    clear_entries()
    client.delete(lock_key())
    client.close()


@pytest.fixture()
def fresh(one_beat):
    """No entries before and after the test; the shared beat keeps running."""
    clear_entries()
    yield one_beat
    clear_entries()


def started(beats: Beats, redis_client) -> subprocess.Popen:
    """Start a beat and wait until it holds RedBeat's lock (so it is ticking)."""
    proc = beats.start()
    wait_for(lambda: redis_client.exists(lock_key()) or proc.poll() is not None, timeout_s=30)
    assert proc.poll() is None, beats.log(len(beats.procs) - 1)
    return proc


def interval(every_s: float) -> dict:
    return {"type": "interval", "every_s": every_s}


class TestOneBeat:
    """Scheduling behaviour against one running beat."""

    def test_interval_entry_fires_on_time(self, fresh, redis_client):
        t0 = time.time()
        schedules.save_entry(celery_app, "probe-2s", "tests.schedule_probe", interval(2), args=["on-time"])
        wait_for(lambda: len(runs(redis_client, "on-time")) >= 3, timeout_s=12)
        times = runs(redis_client, "on-time")
        # First run one interval after saving, then one every 2 s (beat sleeps until the due time).
        assert 1.5 <= times[0] - t0 <= 3.5, times[0] - t0
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(1.5 <= g <= 3.0 for g in gaps), gaps
        info = schedules.get_entry(celery_app, "probe-2s")
        assert info.total_run_count >= 3 and info.last_run_at is not None

    def test_edit_in_redis_takes_effect_without_restart(self, fresh, redis_client):
        proc = fresh
        schedules.save_entry(celery_app, "probe-edit", "tests.schedule_probe", interval(3600), args=["before"])
        time.sleep(2 * TICK_S + 0.5)
        assert runs(redis_client, "before") == []
        schedules.save_entry(celery_app, "probe-edit", "tests.schedule_probe", interval(1), args=["after"])
        wait_for(lambda: len(runs(redis_client, "after")) >= 2, timeout_s=8)
        assert runs(redis_client, "before") == []
        assert proc.poll() is None  # the same beat process, never restarted

    def test_disabled_entry_does_not_fire_and_enabling_resumes_it(self, fresh, redis_client):
        schedules.save_entry(celery_app, "probe-off", "tests.schedule_probe", interval(1), args=["off"],
                             enabled=False)
        schedules.save_entry(celery_app, "probe-on", "tests.schedule_probe", interval(1), args=["on"])
        wait_for(lambda: len(runs(redis_client, "on")) >= 3, timeout_s=10)
        assert runs(redis_client, "off") == []
        schedules.set_enabled(celery_app, "probe-off", True)
        wait_for(lambda: len(runs(redis_client, "off")) >= 1, timeout_s=6)
        schedules.set_enabled(celery_app, "probe-on", False)
        time.sleep(TICK_S + 0.5)  # a run sent just before the change may still land
        settled = len(runs(redis_client, "on"))
        time.sleep(3 * TICK_S)
        assert len(runs(redis_client, "on")) == settled

    def test_health_check_sees_beat_alive(self, fresh):
        from app.tasks.maintenance_tasks import health_check

        report = health_check.delay().get(timeout=20)
        assert report["checks"]["beat"]["ok"] is True and report["checks"]["beat"]["lock_ttl_s"] > 0
        assert not any("beat" in p for p in report["problems"])


def test_two_beats_send_one_run_per_period_and_the_second_takes_over(beats, redis_client):
    first = started(beats, redis_client)
    second = beats.start()
    wait_for(lambda: "beat: Starting..." in beats.log(1) or second.poll() is not None, timeout_s=30)
    assert second.poll() is None  # waiting on the lock, not crashed
    assert "Acquired lock" not in beats.log(1)
    schedules.save_entry(celery_app, "probe-ha", "tests.schedule_probe", interval(1), args=["ha"])
    t0 = time.time()
    time.sleep(6)
    times = [t for t in runs(redis_client, "ha") if t - t0 < 6]
    # One beat: ~6 runs in 6 s, ~1 s apart. Two beats sending would give ~12, in pairs.
    assert 4 <= len(times) <= 7, times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) > 0.6, gaps
    beats.stop(first)  # releases the lock; the waiting beat acquires it on its next try
    before = len(runs(redis_client, "ha"))
    wait_for(lambda: len(runs(redis_client, "ha")) >= before + 2, timeout_s=15)
    assert "Acquired lock" in beats.log(1)


def test_defaults_installed_once_and_edits_survive_restart(beats, redis_client):
    redis_client.delete(keys.BEAT_SEEDED)
    proc = started(beats, redis_client)
    wait_for(lambda: len(schedules.list_entries(celery_app)) == len(DEFAULT_SCHEDULE), timeout_s=10)
    by_name = {e.name: e for e in schedules.list_entries(celery_app)}
    assert set(by_name) == set(DEFAULT_SCHEDULE)
    for name, spec in DEFAULT_SCHEDULE.items():
        assert by_name[name].task == spec["task"]
        assert by_name[name].enabled == spec.get("enabled", True)
    assert by_name["monitor-queue-sizes"].schedule == {"type": "interval", "every_s": 60}
    assert by_name["cleanup-temp-files"].crontab == "0 * * * *"

    schedules.set_enabled(celery_app, "health-check", False)
    schedules.delete_entry(celery_app, "monitor-queue-sizes")
    schedules.save_entry(celery_app, "cleanup-old-results", DEFAULT_SCHEDULE["cleanup-old-results"]["task"],
                         {"type": "crontab", "minute": "45", "hour": "4"})
    beats.stop(proc)
    started(beats, redis_client)
    time.sleep(2 * TICK_S)
    by_name = {e.name: e for e in schedules.list_entries(celery_app)}
    assert "monitor-queue-sizes" not in by_name
    assert by_name["health-check"].enabled is False
    assert by_name["cleanup-old-results"].crontab == "45 4 * * *"
