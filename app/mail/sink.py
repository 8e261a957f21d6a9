"""The dev mail sink: a local SMTP server (aiosmtpd) that stores every message it receives.

Used when SMTP_HOST is unset: the email tasks then send to SMTP_SINK_HOST:SMTP_SINK_PORT
(127.0.0.1:8025) and nothing leaves the machine. Each message is stored under ``DATA_DIR/outbox`` as
``<epoch ns>-<8 hex>.eml`` (the bytes exactly as received) beside a ``.json`` with the envelope
(mail_from, rcpt_tos, peer, received_at epoch s, size_bytes); `app.mail.outbox` reads them.

Run it: ``python -m app.mail.sink`` (host/port from the settings; stops on SIGINT/SIGTERM).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller

#: Largest message the sink takes (bytes); the SMTP SIZE limit it announces.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def outbox_dir(data_dir: Path) -> Path:
    """``<data_dir>/outbox`` (created)."""
    path = Path(data_dir) / "outbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


class OutboxHandler:
    """aiosmtpd handler: writes each accepted message into `directory` (envelope first, then .eml)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope) -> str:
        data: bytes = envelope.original_content or b""
        stem = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                "peer": str(session.peer[0]) if session.peer else None, "received_at": time.time(),
                "size_bytes": len(data)}
        (self.directory / f"{stem}.json").write_text(json.dumps(meta), encoding="utf-8")
        tmp = self.directory / f".{stem}.eml.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / f"{stem}.eml")
        return "250 Message accepted for delivery"


def start(directory: Path, host: str, port: int) -> Controller:
    """Start a sink storing into `directory` on host:port in a background thread; call `.stop()` after.

    Raises:
        OSError: the port is taken.
    """
    controller = Controller(OutboxHandler(directory), hostname=host, port=port,
                            data_size_limit=MAX_MESSAGE_BYTES)
    controller.start()
    return controller


def is_listening(host: str, port: int, timeout_s: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port (used to tell if the sink runs)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def main() -> None:
    """Run the sink with SMTP_SINK_HOST / SMTP_SINK_PORT / DATA_DIR from the settings until stopped."""
    from config.settings import get_settings

    s = get_settings()
    directory = outbox_dir(s.DATA_DIR)
    controller = start(directory, s.SMTP_SINK_HOST, s.SMTP_SINK_PORT)
    print(f"Mail sink listening on {s.SMTP_SINK_HOST}:{s.SMTP_SINK_PORT}, storing messages in {directory}",
          flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
