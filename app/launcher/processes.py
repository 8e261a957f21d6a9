"""What `python -m app` runs: the Procfile's processes, plus an embedded Redis and the dev SMTP sink
when they are needed. Pure planning (no processes started here), so it is easy to test.

Each process belongs to a *stage* (`STAGES`, `stage_of`): supervisord starts the stages in order and
stops them in reverse, one stage at a time, waiting up to the stage's stop wait before SIGKILL:

    start:  store (redis) -> mail (smtp_sink) -> workers (worker_*) -> services (metrics, api, others) -> front (console, beat)
    stop:   front -> services -> workers (warm shutdown, up to WORKER_STOP_WAIT_S) -> mail -> store

Adding a process: one line in the Procfile. It joins the "services" stage unless its name is listed
in `STAGES` (or starts with ``worker_``).
"""
from __future__ import annotations

from types import MappingProxyType
import os
import re
import shlex
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.launcher import redis_server
from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def parse_procfile(text: str) -> dict[str, str]:
    """Procfile text -> {name: shell command}, in file order (``#`` comments and blank lines skipped).

    Raises:
        ValueError: a line that is not ``name: command``, or a name given twice.
    """
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _PROCFILE_LINE.match(line.strip())
        if not m or m.group(1) in out:
            raise ValueError(f"Procfile line {number} is not a new `name: command`: {line!r}")
        out[m.group(1)] = m.group(2).strip()
    return out


@dataclass(frozen=True)
class Stage:
    """A start/stop stage: supervisord `priority` (lower starts first, stops last), how long a stop
    may take before SIGKILL, and whether the stop signal goes to the whole process group (off for
    Celery workers: their pool processes must not get SIGTERM, the worker main process stops them)."""

    name: str
    priority: int
    stop_wait_s: float
    stop_as_group: bool = True


#: Stages in start order. The workers' stop wait is WORKER_STOP_WAIT_S (see `stage_table`).
STAGE_ORDER = ("store", "mail", "workers", "services", "front")
#: Process name -> stage for the processes not in "services" (worker_* are "workers").
STAGES = MappingProxyType({"redis": "store", "smtp_sink": "mail", "console": "front", "beat": "front"})


def stage_table(worker_stop_wait_s: float) -> dict[str, Stage]:
    """The stages with their priorities and stop waits."""
    return {
        "store": Stage("store", 100, 30),
        "mail": Stage("mail", 200, 10),
        "workers": Stage("workers", 300, worker_stop_wait_s, stop_as_group=False),
        "services": Stage("services", 400, 30),
        "front": Stage("front", 500, 30),
    }


def stage_of(name: str) -> str:
    """The stage of process `name` (`STAGES`, ``worker_*`` -> workers, else services)."""
    if name in STAGES:
        return STAGES[name]
    return "workers" if name.startswith("worker_") else "services"


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
    """True when nothing listens on `host`:`port` (a process that cannot bind would only be
    restarted over and over by the supervisor, so a port clash is caught here with a clear note)."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) != 0


class PortTaken(ValueError):
    """The embedded Redis port answers, but not as the server `make run` started for this DATA_DIR."""


def redis_choice(settings: Settings, explicit: bool) -> tuple[str, str | None]:
    """(redis URL, embedded server command or None).

    REDIS_URL is used when it was set and answers; otherwise the embedded valkey-server on
    REDIS_EMBEDDED_PORT (127.0.0.1 only) with its data under DATA_DIR/redis (persistent,
    append-only file, directory 0700) and a generated password (DATA_DIR/secrets/redis_password,
    0600) that every process gets through REDIS_URL. A server already answering on that port is
    reused only when it takes our password and keeps its files in DATA_DIR/redis.

    Raises:
        PortTaken: something else answers on REDIS_EMBEDDED_PORT.
    """
    if explicit and redis_server.answers(settings.REDIS_URL):
        return settings.REDIS_URL, None
    port, data = settings.REDIS_EMBEDDED_PORT, Path(settings.DATA_DIR) / "redis"
    url = redis_server.embedded_url(port, redis_server.embedded_password(settings.DATA_DIR))
    if not port_free(port):
        if redis_server.answers(url) and redis_server.is_own_server(url, data):
            return url, None  # the embedded server left running by an earlier run
        raise PortTaken(f"Port {port} (REDIS_EMBEDDED_PORT) is taken by a server that is not this console's "
                        f"embedded Redis for {data}: stop it or set REDIS_EMBEDDED_PORT (or REDIS_URL).")
    cmd = redis_server.server_command(port, data, persist=True,
                                      password=redis_server.embedded_password(settings.DATA_DIR))
    return url, shlex.join(cmd)


def safe_url(url: str) -> str:
    """`url` with its password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
    return url


def access_notes(settings: Settings) -> list[str]:
    """What the banner says about who can reach the console and how they sign in."""
    mode, address = settings.auth_mode, settings.CONSOLE_ADDRESS
    if mode == "none":
        return [f"Access: no sign-in configured, so the console, metrics and embedded Redis listen on "
                f"127.0.0.1 only. To let others in: `python -m app users add NAME --role admin`, then "
                f"set CONSOLE_AUTH=accounts and CONSOLE_ADDRESS=0.0.0.0 (README \"Security\")."]
    where = "127.0.0.1 only" if address in ("127.0.0.1", "localhost", "::1") else address
    note = f"Access: sign-in by {mode}" + (" (shared CONSOLE_PASSWORD = account admin)"
                                            if settings.CONSOLE_PASSWORD is not None else "")
    note += f"; console listening on {where}"
    if mode == "accounts":
        note += ". Create accounts with `python -m app users add NAME --role admin|operator|viewer`"
    return [note]


def plan(settings: Settings, explicit_redis: bool, procfile: Path = ROOT / "Procfile") -> Plan:
    """Build the process plan for `settings`."""
    p = Plan()
    redis_server.private_dir(Path(settings.DATA_DIR))
    try:
        url, embedded = redis_choice(settings, explicit_redis)
    except PortTaken as exc:
        p.errors.append(str(exc))
        return p
    p.redis_url = url
    if embedded:
        p.processes["redis"] = f"exec {embedded}"
        p.notes.append(f"Redis: embedded valkey-server at {safe_url(url)} on 127.0.0.1 only, password in "
                       f"{Path(settings.DATA_DIR) / redis_server.PASSWORD_FILE} (data in "
                       f"{Path(settings.DATA_DIR) / 'redis'})" + (" — REDIS_URL did not answer" if explicit_redis else ""))
    else:
        p.notes.append(f"Redis: using {safe_url(url)}")
    if not port_free(settings.PORT):
        p.errors.append(f"Port {settings.PORT} is in use: stop what runs there or set PORT.")
    if not settings.SMTP_HOST:
        if port_free(settings.SMTP_SINK_PORT, settings.SMTP_SINK_HOST):
            p.processes["smtp_sink"] = f"exec {shlex.quote(sys.executable)} -m app.mail.sink"
            p.notes.append(f"Email: SMTP_HOST unset, dev SMTP sink on {settings.SMTP_SINK_HOST}:{settings.SMTP_SINK_PORT} "
                           f"(messages in {Path(settings.DATA_DIR) / 'outbox'}, Email page → Outbox)")
        else:
            p.notes.append(f"Email: SMTP_HOST unset and port {settings.SMTP_SINK_PORT} is taken; mail goes to "
                           f"whatever listens there (set SMTP_SINK_PORT for the dev sink)")
    p.processes.update(parse_procfile(procfile.read_text()))
    if not port_free(settings.METRICS_PORT):
        del p.processes["metrics"]
        p.notes.append(f"Metrics: port {settings.METRICS_PORT} is in use, endpoint not started (set METRICS_PORT)")
    else:
        p.notes.append(f"Metrics: http://localhost:{settings.METRICS_PORT}/metrics")
    if not port_free(settings.API_PORT):
        del p.processes["api"]
        p.notes.append(f"API: port {settings.API_PORT} is in use, HTTP API not started (set API_PORT)")
    else:
        p.notes.append(f"API: http://localhost:{settings.API_PORT}/api/docs (python -m app tokens add NAME)")
    if settings.PROCESSES:
        wanted = [n.strip() for n in settings.PROCESSES.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in p.processes and n not in ("redis", "smtp_sink", "metrics", "api")]
        if unknown:
            p.errors.append(f"PROCESSES names unknown process(es) {', '.join(unknown)}; known: "
                            f"{', '.join(p.processes)}.")
        kept = {n: c for n, c in p.processes.items() if n in wanted or n == "redis"}
        p.notes.append(f"Processes: only {', '.join(kept)} (PROCESSES)")
        p.processes = kept
    bindir = str(Path(sys.executable).parent)
    p.env = dict(os.environ)
    # FORWARDED_ALLOW_IPS="": uvicorn (under Streamlit) then reports the TCP peer as the client address;
    # X-Forwarded-For is read by the console itself, only from PROXY_TRUSTED_ADDRESSES (app.ui.auth).
    p.env.update(REDIS_URL=url, PATH=f"{bindir}{os.pathsep}{p.env.get('PATH', '')}",
                 CONSOLE_ADDRESS=settings.CONSOLE_ADDRESS, FORWARDED_ALLOW_IPS="",
                 CONSOLE_PORT=str(settings.PORT), API_PORT=str(settings.API_PORT),
                 API_ADDRESS=settings.API_ADDRESS, MAX_UPLOAD_MB=str(settings.MAX_UPLOAD_MB),
                 DATA_DIR=str(Path(settings.DATA_DIR).resolve()), PYTHONUNBUFFERED="1")
    if settings.auth_mode == "oidc":  # st.login reads its client from a secrets file we write
        from app.launcher import streamlit_secrets

        p.env["STREAMLIT_SECRETS_FILES"] = str(streamlit_secrets.write_secrets(settings))
    p.console_url = f"http://localhost:{settings.PORT}"
    p.notes.extend(access_notes(settings))
    return p
