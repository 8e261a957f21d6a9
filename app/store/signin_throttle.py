"""Sign-in throttling counters: one atomic check-and-count before a password hash is computed.

Key layout (`app.store.keys.signin_failures`):

- ``cc:signin:fail:user:<name>``  hash ``{count, last_at, throttled}``: ``count`` tries that reached
                                  the password check since the last success, ``last_at`` epoch
                                  seconds of the latest, ``throttled`` tries refused without a check
                                  in the current burst. Expires ``window_s`` after the last change.
- ``cc:signin:fail:addr:<ip>``    the same per client address (a success takes its try back).

A try is let through to the hash only while ``count < limit``, or once
``min(base_s * 2 ** (count - limit), max_s)`` seconds have passed since ``last_at``; the check and
the count happen in one Lua script, so parallel tries cannot pass the limit together. Every function
raises what redis-py raises when Redis fails (`app.store.clients.STORE_DOWN`).
"""
from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass

from app.store import keys

_TRY = Path(__file__).with_name("signin_throttle_try.lua").read_text(encoding="utf-8")

_SUCCEEDED = Path(__file__).with_name("signin_throttle_succeeded.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Try:
    """The answer of `try_once`.

    Attributes:
        allowed: True when the password may be checked now (the try is counted already).
        wait_s: seconds until a try may pass (0.0 when allowed).
        throttled_in_burst: when refused, how many refused tries this burst holds now (1 = the
            first); when allowed, how many tries the burst that just ended refused (0: none).
        tries: when allowed, the account's counted tries including this one.
    """

    allowed: bool
    wait_s: float
    throttled_in_burst: int
    tries: int


def try_once(client, name: str, address: str, now: float, limit_user: int, limit_addr: int,
             base_s: float, max_s: float, window_s: int) -> Try:
    """Check the throttle for `name` from `address` and count the try if it may go on (atomic)."""
    r = client.eval(_TRY, 2, keys.signin_failures("user", name), keys.signin_failures("addr", address or "unknown"),
                    f"{now:.3f}", limit_user, limit_addr, base_s, max_s, int(window_s))
    return Try(r[0] == "go", float(r[1]), int(r[2]), int(r[3]))


def succeeded(client, name: str, address: str) -> None:
    """A right password: forget the account's tries and take this try back from the address."""
    client.eval(_SUCCEEDED, 2, keys.signin_failures("user", name), keys.signin_failures("addr", address or "unknown"))


def clear(client, name: str) -> None:
    """Forget the tries of account `name` (e.g. after an admin set a new password)."""
    client.delete(keys.signin_failures("user", name))
