"""`python -m app` refuses what it does not know, and its supervisor lives and dies with it.

The stack tests start a real `python -m app` (embedded Redis, the dev SMTP sink, the metrics
endpoint and one Celery worker with its pool child, under supervisord) in its own session, then kill
it the way an operator or the OS would and check every process it started is gone and every port is
free again. Processes are found through /proc (Linux) by parent pid; a test only ever signals the
processes it started.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.launcher import redis_server
from tests.conftest import ROOT, wait_for

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
#: The processes the stack tests run (PROCESSES); the embedded Redis always starts.
PROGRAMS = ("redis", "smtp_sink", "metrics", "worker_default")


def test_unknown_command_prints_usage_and_exits_2_without_starting_anything(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "app", "token", "add", "x"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith("usage: python -m app") and "invalid choice: 'token'" in out.stderr
    assert not (tmp_path / "run").exists()  # no supervisord config written, nothing started
    helped = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("run", "users", "tokens"))


def _children() -> dict[int, list[int]]:
    """parent pid -> child pids, from /proc/<pid>/stat."""
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":  # a zombie has already exited
            out.setdefault(int(fields[1]), []).append(int(entry.name))
    return out


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Launcher:
    """One `python -m app` running PROGRAMS in its own session, on free ports under `data`."""

    def __init__(self, data: Path):
        self.data = data
        self.ports = {name: redis_server.free_port() for name in ("redis", "smtp", "metrics", "console")}
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SMTP_HOST")}
        env.update(DATA_DIR=str(data), PROCESSES="worker_default,metrics,smtp_sink",
                   REDIS_EMBEDDED_PORT=str(self.ports["redis"]), SMTP_SINK_PORT=str(self.ports["smtp"]),
                   METRICS_PORT=str(self.ports["metrics"]), PORT=str(self.ports["console"]),
                   DEFAULT_CONCURRENCY="1", WORKER_STOP_WAIT_S="20", AWAIT_REDIS_S="60")
        self.log = open(data / "launcher.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.started: set[int] = set()

    def supervisord_pid(self) -> int:
        return int((self.data / "run" / "supervisord.pid").read_text().strip())

    def wait_running(self, timeout_s: float = 90) -> set[int]:
        """Wait until every program runs and the worker has its pool child; returns every pid started."""
        ports = (self.ports["redis"], self.ports["smtp"], self.ports["metrics"])
        wait_for(lambda: (self.data / "run" / "supervisord.pid").exists() and not any(_port_free(p) for p in ports),
                 timeout_s, 0.3)
        # worker_default: sh -> celery main -> one pool process
        wait_for(lambda: len(_descendants(self.supervisord_pid())) >= len(PROGRAMS) + 1, timeout_s, 0.3)
        self.started = _descendants(self.proc.pid)
        return self.started

    def cleanup(self) -> None:
        """Whatever a failed test left: SIGKILL only the processes this launcher started."""
        for pid in sorted(self.started | _descendants(self.proc.pid) | {self.proc.pid}):
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait(10)
        self.log.close()


@pytest.fixture()
def launcher(tmp_path):
    stack = Launcher(tmp_path)
    yield stack
    stack.cleanup()


def _gone(pids: set[int], ports, timeout_s: float) -> float:
    t0 = time.monotonic()
    wait_for(lambda: not [p for p in pids if _alive(p)] and all(_port_free(p) for p in ports), timeout_s, 0.1)
    return time.monotonic() - t0


@linux_only
def test_supervisor_and_every_program_die_with_a_launcher_killed_by_sigkill(launcher):
    started = launcher.wait_running()
    supervisord = launcher.supervisord_pid()
    assert supervisord in started and len(started) >= len(PROGRAMS) + 2
    os.kill(launcher.proc.pid, signal.SIGKILL)
    launcher.proc.wait(10)
    took_s = _gone(started, (launcher.ports["redis"], launcher.ports["smtp"], launcher.ports["metrics"]), 30)
    assert not [p for p in started if _alive(p)]
    print(f"all {len(started)} processes gone {took_s:.1f} s after SIGKILL of the launcher")


@linux_only
def test_sigterm_to_supervisord_stops_every_program_and_the_launcher(launcher):
    started = launcher.wait_running()
    os.kill(launcher.supervisord_pid(), signal.SIGTERM)
    took_s = _gone(started, (launcher.ports["redis"], launcher.ports["smtp"], launcher.ports["metrics"]), 30)
    assert launcher.proc.wait(10) == 0  # the launcher returns supervisord's status once it stopped
    print(f"all {len(started)} processes gone {took_s:.1f} s after SIGTERM to supervisord")
