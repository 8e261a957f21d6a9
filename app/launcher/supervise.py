"""Run a `Plan` under supervisord (the `supervisor` package): restart what exits, stop in stages.

What supervisord does for `python -m app` (config written to DATA_DIR/run/supervisord.conf):

- every process is restarted when it exits (``autorestart``); one that exits within ``startsecs``
  of starting is retried with a growing delay (1 s, 2 s, 3 s ... supervisord's backoff) up to
  ``startretries`` times. Each exit and restart is logged with the exit status. Nothing else stops.
- one supervisord group per stage (`processes.stage_table`): groups start in priority order and stop
  in reverse, one stage at a time; each process gets SIGTERM, then SIGKILL to its whole process
  group after the stage's stop wait, so nothing is left behind. Workers get SIGTERM on the main
  process only (Celery's warm shutdown: running tasks finish and are acked, reserved ones go back
  to the queue) and up to WORKER_STOP_WAIT_S for it; Redis stops last, after every worker acked.
- each process writes DATA_DIR/logs/<name>.log (10 MB, 3 backups); `python -m app` prints those
  lines prefixed with the process name, like a Procfile runner.

Operators can ask the running supervisor: ``supervisorctl -c var/run/supervisord.conf status``
(also ``restart workers:worker_email``, ``tail -f console``).
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.launcher import parent_death
from app.launcher.processes import STAGE_ORDER, ROOT, Plan, stage_of, stage_table

#: A process that stays up this long counts as started (exits sooner are retried with backoff).
START_SECS = 3
#: Start attempts of a process that keeps exiting within START_SECS before supervisord gives up.
START_RETRIES = 20
LOG_MAX_BYTES = 10 * 1024 * 1024


def _value(text: str) -> str:
    """A supervisord config value: `%` is its interpolation character."""
    return text.replace("%", "%%")


def render_config(plan: Plan, run_dir: Path, log_dir: Path, worker_stop_wait_s: float) -> str:
    """supervisord.conf text for `plan` (see the module docstring for what it sets).

    Programs run ``/bin/sh -c <Procfile command>`` from the project root with supervisord's
    environment (the plan's env is given to supervisord itself).
    """
    stages = stage_table(worker_stop_wait_s)
    lines = [
        "[supervisord]", "nodaemon=true", f"logfile={_value(str(run_dir / 'supervisord.log'))}",
        "logfile_maxbytes=10MB", "logfile_backups=2", f"pidfile={_value(str(run_dir / 'supervisord.pid'))}",
        f"childlogdir={_value(str(log_dir))}", "loglevel=info", "user=" + _value(_user()), "",
        "[unix_http_server]", f"file={_value(str(run_dir / 'supervisor.sock'))}", "chmod=0700", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{_value(str(run_dir / 'supervisor.sock'))}", "",
    ]
    members: dict[str, list[str]] = {name: [] for name in STAGE_ORDER}
    for name, command in plan.processes.items():
        stage = stages[stage_of(name)]
        members[stage.name].append(name)
        lines += [
            f"[program:{name}]",
            f"command={_value(shlex.join(['/bin/sh', '-c', command]))}",
            f"directory={_value(str(ROOT))}",
            f"priority={stage.priority}",
            "autostart=true", "autorestart=true",
            f"startsecs={START_SECS}", f"startretries={START_RETRIES}",
            "stopsignal=TERM", f"stopwaitsecs={int(stage.stop_wait_s)}",
            f"stopasgroup={'true' if stage.stop_as_group else 'false'}", "killasgroup=true",
            "redirect_stderr=true", f"stdout_logfile={_value(str(log_dir / f'{name}.log'))}",
            f"stdout_logfile_maxbytes={LOG_MAX_BYTES}", "stdout_logfile_backups=3", "",
        ]
    for stage_name, names in members.items():
        if names:
            lines += [f"[group:{stage_name}]", f"programs={','.join(names)}",
                      f"priority={stages[stage_name].priority}", ""]
    return "\n".join(lines)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


class LogFollower(threading.Thread):
    """Print new lines of each DATA_DIR/logs/<name>.log as ``name | line`` (files that rotate or are
    created later are picked up). Lines written before `python -m app` started are skipped."""

    def __init__(self, log_dir: Path, names: list[str], out=None, interval_s: float = 0.2):
        super().__init__(name="log-follower", daemon=True)
        self.log_dir, self.names, self.out, self.interval_s = log_dir, names, out or sys.stdout, interval_s
        self.width = max((len(n) for n in names), default=0)
        self._pos: dict[str, tuple[int, int]] = {}
        for name in names:
            path = log_dir / f"{name}.log"
            if path.exists():
                st = path.stat()
                self._pos[name] = (st.st_ino, st.st_size)
        self.stopping = threading.Event()

    def poll(self) -> None:
        for name in self.names:
            path = self.log_dir / f"{name}.log"
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            inode, pos = self._pos.get(name, (st.st_ino, 0))
            if inode != st.st_ino or st.st_size < pos:
                pos = 0
            if st.st_size == pos:
                self._pos[name] = (st.st_ino, pos)
                continue
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read(1024 * 1024)
            cut = data.rfind(b"\n") + 1
            if not cut:
                continue
            for line in data[:cut].decode("utf-8", "replace").splitlines():
                self.out.write(f"{name:<{self.width}} | {line}\n")
            self.out.flush()
            self._pos[name] = (st.st_ino, pos + cut)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll()
            except OSError:
                pass
            self.stopping.wait(self.interval_s)
        self.poll()


def run(plan: Plan, data_dir: Path, worker_stop_wait_s: float) -> int:
    """Start supervisord in the foreground with `plan`; return its exit status once it has stopped.

    SIGINT / SIGTERM to this process (Ctrl-C reaches both it and supervisord) make supervisord stop
    every stage in order; this process waits for it. If this process dies without a chance to do
    that (SIGKILL, a crash), the kernel sends supervisord SIGTERM (`parent_death`), and supervisord
    stops every stage in the same order and exits: nothing is left running or holding a port.
    """
    run_dir, log_dir = data_dir / "run", data_dir / "logs"
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "supervisord.conf"
    conf.write_text(render_config(plan, run_dir, log_dir, worker_stop_wait_s))
    proc = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)],
                            env=plan.env, cwd=str(ROOT), preexec_fn=parent_death.preexec(signal.SIGTERM))
    follower = LogFollower(log_dir, list(plan.processes))  # started after the fork (see parent_death)
    follower.start()
    stopping = {"at": None}

    def _stop(signum, _frame):
        if stopping["at"] is None:
            stopping["at"] = time.monotonic()
            print(f"Stopping: console and beat, then workers (warm shutdown, up to {worker_stop_wait_s:g} s), "
                  "Redis last.", flush=True)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # idempotent: supervisord is already stopping if it got Ctrl-C

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    rc = proc.wait()
    follower.stopping.set()
    follower.join(2)
    return rc
