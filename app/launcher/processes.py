"""What `python -m app` runs: the Procfile's processes, plus an embedded Redis and the dev SMTP sink
when they are needed. Pure planning (no processes started here), so it is easy to test.
"""
from __future__ import annotations

import os
import shlex
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
    if not settings.SMTP_HOST:
        sink_port = getattr(settings, "SMTP_SINK_PORT", 8025)
        if (ROOT / "app" / "services" / "mail" / "sink.py").exists():
            p.processes["smtp_sink"] = f"exec {shlex.quote(sys.executable)} -m app.services.mail.sink"
            p.notes.append(f"Email: SMTP_HOST unset, dev SMTP sink on 127.0.0.1:{sink_port} "
                           f"(messages in {Path(settings.DATA_DIR) / 'outbox'}, Email page → Outbox)")
    procfile_text = procfile.read_text()
    p.processes.update(parse_procfile(procfile_text).processes)
    bindir = str(Path(sys.executable).parent)
    p.env = dict(os.environ)
    p.env.update(REDIS_URL=url, PATH=f"{bindir}{os.pathsep}{p.env.get('PATH', '')}",
                 CONSOLE_PORT=str(settings.PORT), MAX_UPLOAD_MB=str(settings.MAX_UPLOAD_MB),
                 DATA_DIR=str(Path(settings.DATA_DIR).resolve()), PYTHONUNBUFFERED="1")
    p.console_url = f"http://localhost:{settings.PORT}"
    return p
