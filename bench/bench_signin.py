"""Benchmark: what the sign-in check costs the Task Monitor's refresh.

Run: ``.venv/bin/python bench/bench_signin.py [--renders 30]``

On a private valkey-server (no persistence), Streamlit AppTest renders the console's entry script
(sign-in gate, navigation, the Task Monitor page with its refreshing fragments) repeatedly,
alternating two modes in the same run:

- baseline: no sign-in configured (CONSOLE_AUTH=none; the gate builds the local identity);
- signed in: CONSOLE_AUTH=accounts with an admin signed in (the same controls as the local admin of
  the baseline): the gate checks the session against Redis once per run (one EVAL returning the
  session and the account), then every `can()` on the page reads the identity from session state.

It prints p50 and minimum milliseconds per render for both, their ratios, the Redis commands each
render sends in both modes (INFO commandstats before/after) and the cost of one session check.
Target: no measurable difference (ratio within run-to-run noise) and exactly 1 extra Redis command
per run (the session check; a fragment's own run makes the same one).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.launcher import redis_server  # noqa: E402


CHECKS = 10_000
CHECK_SCRIPT = f"""
import time
import streamlit as st
from app.ui import auth
from app.ui.access import can
t0 = time.perf_counter()
for _ in range({CHECKS}):
    auth.identity()
    can("revoke")
st.session_state["per_check_us"] = (time.perf_counter() - t0) / {CHECKS} * 1e6
"""


def commands(client) -> int:
    return sum(v["calls"] for k, v in client.info("commandstats").items() if k.startswith("cmdstat_"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--renders", type=int, default=30)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-signin-"))
    port = redis_server.free_port()
    proc = redis_server.start(port, tmp / "redis", persist=False)
    os.environ.update(REDIS_URL=f"redis://127.0.0.1:{port}/0", DATA_DIR=str(tmp / "data"))
    os.environ.pop("CONSOLE_PASSWORD", None)
    try:
        from streamlit.testing.v1 import AppTest

        from app.access import Identity, Role, accounts, identity, sessions
        from app.store.clients import redis_from_url
        from app.ui.auth import SESSION_KEY, SID_KEY
        from config.settings import get_settings

        client = redis_from_url(os.environ["REDIS_URL"])
        accounts.add(client, identity.system("bench"), "bench-op", "admin", "bench password")
        settings = get_settings()
        bench_op = Identity("bench-op", Role.ADMIN, "127.0.0.1", "accounts", time.time())
        sid = sessions.digest(sessions.create(client, bench_op, 3600))

        def render(mode: str) -> tuple[float, int]:
            settings.CONSOLE_AUTH = mode
            at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
            if mode == "accounts":
                at.session_state[SID_KEY] = sid  # what the sign-in form leaves in the page state
            at.run()  # first run of a session: page switch and cache warm-up (not timed)
            before = commands(client)
            t0 = time.perf_counter()
            at.run()
            took_ms = (time.perf_counter() - t0) * 1000
            sent = commands(client) - before - 1  # the INFO call itself
            assert not at.exception, at.exception
            return took_ms, sent

        render("none"), render("accounts")  # warm imports
        samples: dict[str, list[float]] = {"none": [], "accounts": []}
        sent: dict[str, list[int]] = {"none": [], "accounts": []}
        for _ in range(args.renders):
            for mode in ("none", "accounts"):
                ms, n = render(mode)
                samples[mode].append(ms)
                sent[mode].append(n)
        base, signed = statistics.median(samples["none"]), statistics.median(samples["accounts"])
        spread = statistics.pstdev(samples["none"]) / base if base else 0.0
        probe = AppTest.from_string(CHECK_SCRIPT, default_timeout=120)
        probe.session_state[SESSION_KEY] = Identity("bench-op", Role.ADMIN, "127.0.0.1", "accounts", time.time())
        settings.CONSOLE_AUTH = "accounts"
        before = commands(client)
        probe.run()
        assert not probe.exception, probe.exception
        per_check_us = probe.session_state["per_check_us"]
        check_commands = commands(client) - before - 1
        recheck_before = commands(client)
        t0 = time.perf_counter()
        for _ in range(100):
            sessions.validate(client, sid, "127.0.0.1", 3600, False)
        recheck_ms = (time.perf_counter() - t0) * 1000 / 100
        print(f"Task Monitor render (entry script + page + fragments), p50 of {args.renders}:")
        low_base, low_signed = min(samples["none"]), min(samples["accounts"])
        print(f"  no sign-in (baseline): {base:.1f} ms   signed in: {signed:.1f} ms   ratio {signed / base:.3f} "
              f"(baseline run-to-run spread ±{spread * 100:.0f}%)")
        print(f"  fastest render: no sign-in {low_base:.1f} ms, signed in {low_signed:.1f} ms, ratio "
              f"{low_signed / low_base:.3f} (the minimum is the least disturbed by other load on the machine)")
        print(f"  one sign-in check (auth.identity() + access.can()), mean of {CHECKS:,}: {per_check_us:.1f} µs, "
              f"{check_commands} Redis commands for all of them; 20 checks (more than a Task Monitor render makes) "
              f"= {20 * per_check_us / 1000:.2f} ms = {100 * 20 * per_check_us / 1000 / low_base:.2f}% of the fastest render")
        print(f"  Redis commands per render: no sign-in {statistics.median(sent['none']):.0f}, "
              f"signed in {statistics.median(sent['accounts']):.0f}")
        print(f"  session check (every page and fragment run): {(commands(client) - recheck_before - 1) / 100:.0f} "
              f"command, {recheck_ms:.3f} ms")
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
