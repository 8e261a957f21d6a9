"""The fault suite's real stack: `python -m app` (supervisord, embedded Redis with AOF, five workers,
beat, console, metrics) pointed at a counting SMTP server, with short timeouts so faults resolve in
seconds: VISIBILITY_TIMEOUT_S=20, EMAIL_CLAIM_LEASE_S=2, WORKER_STOP_WAIT_S=90 (a warm shutdown on a loaded 2-core machine), MAX_DELIVERIES=3.
Only the processes the scenarios use run (`FAULT_PROCESSES`: the email and default workers, beat,
console, metrics; the files/AI/reports workers are the same code and would only slow the machine).

The stack and the counting SMTP server live for this package's tests only (package scope): killed
after the last of them, they do not take CPU from the rest of the suite.

`faults_table` collects one row per scenario (what was done, what came out, counts); at the end of
the run it is printed as a table and written to var/faults.json.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.launcher import redis_server
from app.monitor import workers
from app.store.clients import redis_from_url
from tests.browser_stack import get_status
from tests.conftest import ROOT, wait_for
from tests.faults.smtp_counting import CountingSmtp

#: The stack runs the processes the scenarios need (PROCESSES; the embedded Redis always starts).
FAULT_PROCESSES = "worker_email,worker_default,beat,console,metrics"
FAULT_QUEUES = ("email_queue", "default_queue")
FAULT_ENV = dict(PROCESSES=FAULT_PROCESSES, VISIBILITY_TIMEOUT_S="20", EMAIL_CLAIM_LEASE_S="2", WORKER_STOP_WAIT_S="90", MAX_DELIVERIES="3",
                 EMAIL_RETRY_COUNTDOWN_S="1", EMAIL_RETRY_BACKOFF_MAX_S="5", WORKER_HEARTBEAT_S="1",
                 WORKER_OFFLINE_AFTER_S="5", EMAIL_CONCURRENCY="2", FILES_CONCURRENCY="1", AI_CONCURRENCY="1",
                 REPORTS_CONCURRENCY="1", DEFAULT_CONCURRENCY="1", LOGLEVEL="INFO", AWAIT_REDIS_S="60")
_rows: list[dict] = []


class Stack:
    """One `python -m app` in its own session (process group); restartable on the same data."""

    def __init__(self, data: Path, smtp_port: int):
        self.data = data
        self.redis_port, self.console_port = redis_server.free_port(), redis_server.free_port()
        # the embedded Redis has a generated password (DATA_DIR/secrets/redis_password)
        self.redis_url = redis_server.embedded_url(self.redis_port, redis_server.embedded_password(data))
        self.env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATA_DIR")}
        self.env.update(FAULT_ENV, DATA_DIR=str(data), REDIS_EMBEDDED_PORT=str(self.redis_port),
                        PORT=str(self.console_port), METRICS_PORT=str(redis_server.free_port()),
                        API_PORT=str(redis_server.free_port()),
                        SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), EMAIL_FROM="faults@example.com")
        self.proc: subprocess.Popen | None = None
        self.client = redis_from_url(self.redis_url)
        self.app = self._celery()
        self.runs = 0

    def _celery(self):
        from app.runtime.celery_app import ConsoleCelery
        from config.celery_config import celery_app

        app = ConsoleCelery("faults", broker=self.redis_url, backend=self.redis_url, set_as_current=False)
        app.conf.update({k: v for k, v in celery_app.conf.changes.items()
                         if k not in ("broker_url", "result_backend", "redbeat_redis_url")})
        transport = {"visibility_timeout": int(FAULT_ENV["VISIBILITY_TIMEOUT_S"])}
        app.conf.update(broker_transport_options=transport, result_backend_transport_options=transport)
        return app

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def start(self) -> None:
        self.runs += 1
        self.log = open(self.data / f"stack-{self.runs}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout_s: float = 120, console: bool = True) -> None:
        if console:
            wait_for(lambda: get_status(f"{self.console_url}/_stcore/health") == 200, timeout_s, 0.5)
        wait_for(lambda: set(FAULT_QUEUES) <= set(self.consumers()), timeout_s, 0.5)

    def consumers(self) -> dict[str, list[str]]:
        try:
            return workers.consumers_by_queue(workers.list_workers(self.client, 5.0))
        except Exception:  # noqa: BLE001 - Redis still starting
            return {}

    def ctl(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c",
                              str(self.data / "run" / "supervisord.conf"), *args],
                             capture_output=True, text=True, timeout=60, env=self.env)
        return out.stdout

    def pid(self, program: str) -> int:
        return int(self.ctl("pid", program).strip() or 0)

    def pids(self) -> dict[str, int]:
        out = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "RUNNING":
                out[parts[0]] = int(parts[3].rstrip(","))
        return out

    def interrupt(self, timeout_s: float = 90) -> float:
        """Ctrl-C: SIGINT to the process group (python -m app and supervisord); seconds until it exited."""
        t0 = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout_s)
        self.log.close()
        return time.monotonic() - t0

    def kill(self) -> None:
        """End of the suite (the ordered stop is tested by the Ctrl-C scenario): SIGKILL every
        program's process group, then supervisord and `python -m app`; nothing is left behind."""
        if self.proc and self.proc.poll() is None:
            programs = self.pids()
            os.killpg(self.proc.pid, signal.SIGSTOP)  # supervisord must not restart what is killed next
            for pid in programs.values():
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        pidfile = self.data / "run" / "supervisord.pid"
        if pidfile.exists():
            pidfile.unlink()


@pytest.fixture(scope="package")
def counting_smtp(tmp_path_factory):
    port = redis_server.free_port()
    holder = {}
    yield holder, port
    if holder.get("server"):
        holder["server"].stop()


@pytest.fixture(scope="package")
def stack(tmp_path_factory, counting_smtp):
    holder, smtp_port = counting_smtp
    s = Stack(tmp_path_factory.mktemp("faults"), smtp_port)
    holder["server"] = CountingSmtp(s.client, smtp_port).start()
    s.smtp = holder["server"].handler
    s.start()
    try:
        s.wait_ready()
        yield s
    finally:
        s.kill()
        s.client.close()


@pytest.fixture(scope="session")
def faults_table():
    return _rows


def pytest_terminal_summary(terminalreporter):
    if not _rows:
        return
    tr = terminalreporter
    tr.section("fault scenarios (also in var/faults.json)")
    width = max(len(r["scenario"]) for r in _rows)
    for r in _rows:
        counts = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("scenario", "outcome"))
        tr.write_line(f"{r['scenario']:<{width}}  {r['outcome']:<10}  {counts}")
    out = ROOT / "var" / "faults.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_rows, indent=2))
