"""Wait until REDIS_URL answers PING (up to AWAIT_REDIS_S, default 30 s), then run the given command.

    python -m app.launcher.await_redis                      exit 0 once Redis answers, 1 if it never does
    python -m app.launcher.await_redis CMD [ARG...]         then replace this process with CMD (exec)

Used in front of the workers, beat and metrics in the Procfile so they start after the embedded
server. The exec form leaves no shell between the supervisor and the program, so the supervisor's
stop signal reaches the program itself (a Celery worker's warm shutdown needs that). Its messages
show the URL with the password masked (``redis://:***@host:port/0``).
"""
from __future__ import annotations

import os
import sys
import time

from app.launcher.processes import safe_url
from app.launcher.redis_server import answers


def wait(url: str, timeout_s: float) -> bool:
    """True once `url` answers PING; False after `timeout_s` seconds without an answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if answers(url, 0.5):
            return True
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not wait(url, float(os.environ.get("AWAIT_REDIS_S", "30"))):
        print(f"Redis at {safe_url(url)} did not answer; giving up (the supervisor starts this again).", file=sys.stderr)
        return 1
    if argv:
        sys.stdout.flush()
        os.execvp(argv[0], argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
