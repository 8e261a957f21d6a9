"""Block until REDIS_URL answers PING (up to AWAIT_REDIS_S, default 30 s); exit 1 if it never does.

Used in front of the workers and beat in the Procfile so they start after the embedded server.
"""
from __future__ import annotations

import os
import sys
import time

from app.launcher.redis_server import answers


def main() -> int:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    deadline = time.monotonic() + float(os.environ.get("AWAIT_REDIS_S", "30"))
    while time.monotonic() < deadline:
        if answers(url, 0.5):
            return 0
        time.sleep(0.2)
    print(f"Redis at {url} did not answer; giving up.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
