"""Starting a private RabbitMQ node (tests, benchmarks, a one-machine trial of the AMQP broker).

The node gets its own name, AMQP port, Erlang distribution port, management port and data/log
directories, so it never meets the machine's own RabbitMQ. It listens on `bind` (loopback by
default) and lets ``guest`` connect from any address (``loopback_users = none``) so a worker in a
network namespace can reach it. Settings: RabbitMQ's environment variables (rabbitmq-env.conf docs:
RABBITMQ_NODENAME, RABBITMQ_NODE_PORT, RABBITMQ_DIST_PORT, RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE,
RABBITMQ_CONFIG_FILE, RABBITMQ_ENABLED_PLUGINS_FILE).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.launcher.redis_server import free_port

#: Debian's package puts the unwrapped start script here (/usr/sbin/rabbitmq-server switches user).
SERVER_SCRIPTS = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server")


def server_script() -> str | None:
    """Path of the rabbitmq-server start script, or None when RabbitMQ is not installed."""
    for path in SERVER_SCRIPTS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("rabbitmq-server")


@dataclass
class RabbitNode:
    """A running private node: `amqp_url`, `management_url` (with guest credentials), the process."""

    proc: subprocess.Popen
    amqp_url: str
    management_url: str
    base_dir: Path
    log_path: Path

    def stop(self, timeout_s: float = 30.0, graceful: bool = True) -> None:
        """Stop the node: SIGTERM to its process group, SIGKILL after `timeout_s`; without
        `graceful`, SIGKILL at once (a throw-away node: its data dir is deleted anyway)."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM if graceful else signal.SIGKILL)
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        except ProcessLookupError:
            pass


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start(base_dir: Path, bind: str = "127.0.0.1", management: bool = True,
          timeout_s: float = 90.0, stats_interval_ms: int = 5000) -> RabbitNode:
    """Start a node keeping its files under `base_dir`; returns once AMQP (and management) accept.

    `stats_interval_ms` is collect_statistics_interval: how often the management API's queue
    figures refresh (RabbitMQ's default 5000 ms).

    Raises:
        FileNotFoundError: rabbitmq-server is not installed.
        RuntimeError: the node exited or did not listen within `timeout_s` (the log tail is included).
    """
    script = server_script()
    if not script:
        raise FileNotFoundError("rabbitmq-server is not installed (apt-get install rabbitmq-server).")
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    amqp_port, dist_port, mgmt_port = free_port(), free_port(), free_port()
    conf = base_dir / "rabbitmq.conf"
    lines = [f"listeners.tcp.default = {bind}:{amqp_port}", "loopback_users = none",
             "vm_memory_high_watermark.relative = 0.2", "disk_free_limit.absolute = 50MB", f"collect_statistics_interval = {stats_interval_ms}"]
    if management:
        lines += [f"management.tcp.port = {mgmt_port}", f"management.tcp.ip = {bind}"]
    conf.write_text("\n".join(lines) + "\n")
    plugins = base_dir / "enabled_plugins"
    plugins.write_text("[rabbitmq_management].\n" if management else "[].\n")
    node = f"cc{uuid.uuid4().hex[:8]}@localhost"
    env = dict(os.environ, RABBITMQ_NODENAME=node, RABBITMQ_NODE_IP_ADDRESS=bind,
               RABBITMQ_NODE_PORT=str(amqp_port), RABBITMQ_DIST_PORT=str(dist_port),
               RABBITMQ_MNESIA_BASE=str(base_dir / "mnesia"), RABBITMQ_LOG_BASE=str(base_dir / "log"),
               RABBITMQ_CONFIG_FILE=str(conf), RABBITMQ_ENABLED_PLUGINS_FILE=str(plugins),
               RABBITMQ_PID_FILE=str(base_dir / "node.pid"), RABBITMQ_ALLOW_INPUT="")
    for key in ("RABBITMQ_CONF_ENV_FILE", "RABBITMQ_ADVANCED_CONFIG_FILE"):
        env.pop(key, None)
    log_path = base_dir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([script], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    host = bind if bind != "0.0.0.0" else "127.0.0.1"
    node_ = RabbitNode(proc, f"amqp://guest:guest@{host}:{amqp_port}//",
                       f"http://guest:guest@{host}:{mgmt_port}" if management else "", base_dir, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _port_open(host, amqp_port) and (not management or _port_open(host, mgmt_port)):
            return node_
        time.sleep(0.2)
    node_.stop()
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"RabbitMQ node did not start within {timeout_s} s:\n{tail}")
