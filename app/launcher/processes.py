"""What `python -m app` runs: the Procfile's processes, plus an embedded Redis and the dev SMTP sink
when they are needed. Pure planning (no processes started here), so it is easy to test.
"""
from __future__ import annotations

import os
import shlex
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from honcho.environ import parse_procfile

from app.launcher import redis_server
from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Plan:
    """Processes to run (name -> shell command), their environment and what to tell the user."""

    processes: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    redis_url: str = ""
    console_url: str = ""
    errors: list[str] = field(default_factory=list)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on `host`:`port` (honcho stops every process when one exits, so
    a port clash is caught here instead of taking the whole console down)."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) != 0


def redis_choice(settings: Settings, explicit: bool) -> tuple[str, str | None]:
    """(redis URL, embedded server command or None).

    REDIS_URL is used when it was set and answers; otherwise the embedded valkey-server on
    REDIS_EMBEDDED_PORT with its data under DATA_DIR/redis (persistent, append-only file).
    """
    if explicit and redis_server.answers(settings.REDIS_URL):
        return settings.REDIS_URL, None
    port = settings.REDIS_EMBEDDED_PORT
    url = f"redis://127.0.0.1:{port}/0"
    if redis_server.answers(url):
        return url, None  # an embedded server left running by an earlier run
    cmd = redis_server.server_command(port, Path(settings.DATA_DIR) / "redis", persist=True)
    return url, shlex.join(cmd)


def plan(settings: Settings, explicit_redis: bool, procfile: Path = ROOT / "Procfile") -> Plan:
    """Build the process plan for `settings`."""
    p = Plan()
    url, embedded = redis_choice(settings, explicit_redis)
    p.redis_url = url
    if embedded:
        p.processes["redis"] = f"exec {embedded}"
        p.notes.append(f"Redis: embedded valkey-server at {url} (data in {Path(settings.DATA_DIR) / 'redis'})"
                       + (" — REDIS_URL did not answer" if explicit_redis else ""))
    else:
        p.notes.append(f"Redis: using {url}")
    if not port_free(settings.PORT):
        p.errors.append(f"Port {settings.PORT} is in use: stop what runs there or set PORT.")
    if not settings.SMTP_HOST:
        if port_free(settings.SMTP_SINK_PORT, settings.SMTP_SINK_HOST):
            p.processes["smtp_sink"] = f"exec {shlex.quote(sys.executable)} -m app.services.mail.sink"
            p.notes.append(f"Email: SMTP_HOST unset, dev SMTP sink on {settings.SMTP_SINK_HOST}:{settings.SMTP_SINK_PORT} "
                           f"(messages in {Path(settings.DATA_DIR) / 'outbox'}, Email page → Outbox)")
        else:
            p.notes.append(f"Email: SMTP_HOST unset and port {settings.SMTP_SINK_PORT} is taken; mail goes to "
                           f"whatever listens there (set SMTP_SINK_PORT for the dev sink)")
    p.processes.update(parse_procfile(procfile.read_text()).processes)
    if not port_free(settings.METRICS_PORT):
        del p.processes["metrics"]
        p.notes.append(f"Metrics: port {settings.METRICS_PORT} is in use, endpoint not started (set METRICS_PORT)")
    else:
        p.notes.append(f"Metrics: http://localhost:{settings.METRICS_PORT}/metrics")
    bindir = str(Path(sys.executable).parent)
    p.env = dict(os.environ)
    p.env.update(REDIS_URL=url, PATH=f"{bindir}{os.pathsep}{p.env.get('PATH', '')}",
                 CONSOLE_PORT=str(settings.PORT), MAX_UPLOAD_MB=str(settings.MAX_UPLOAD_MB),
                 DATA_DIR=str(Path(settings.DATA_DIR).resolve()), PYTHONUNBUFFERED="1")
    p.console_url = f"http://localhost:{settings.PORT}"
    return p
