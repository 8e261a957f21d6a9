"""Signing in: password check with throttling, and the e-mail / group allow-list for OIDC and proxy.

Throttling (issue 12: "5 failures -> growing delay"): failed password sign-ins are counted per
account name and per client address in Redis (`keys.signin_failures`), each counter forgotten
SIGNIN_FAILURE_WINDOW_S after its last failure. Once an account has SIGNIN_MAX_FAILURES failures
(an address SIGNIN_MAX_FAILURES_PER_ADDRESS), the next try must wait
``min(SIGNIN_DELAY_BASE_S * 2 ** (failures - limit), SIGNIN_DELAY_MAX_S)`` seconds after the last
failure (defaults: 5th failure -> 2 s, 6th -> 4 s, ... capped at 15 min); an early try is refused
without checking the password. A success clears the account's counter, not the address's. Every
failure and every throttled try is audited as "sign_in_failed".
"""
from __future__ import annotations

import fnmatch
import hmac
import time

from app.access import accounts, audit
from app.access.identity import Identity
from app.access.roles import Role
from app.errors import SignInRefused
from app.store import keys
from config.settings import Settings

#: The account name of the shared CONSOLE_PASSWORD (kept for existing installs); role admin.
SHARED_ACCOUNT = "admin"


def _wait_s(client, settings: Settings, kind: str, value: str, limit: int, now: float) -> float:
    raw = client.hgetall(keys.signin_failures(kind, value))
    count = int(raw.get("count", 0) or 0)
    if count < limit:
        return 0.0
    delay = min(settings.SIGNIN_DELAY_BASE_S * 2 ** (count - limit), settings.SIGNIN_DELAY_MAX_S)
    return max(0.0, float(raw.get("last_at", 0) or 0) + delay - now)


def throttle_wait_s(client, settings: Settings, name: str, address: str, now: float | None = None) -> float:
    """Seconds until `name` from `address` may try again (0 when it may now)."""
    now = time.time() if now is None else now
    return max(_wait_s(client, settings, "user", name, settings.SIGNIN_MAX_FAILURES, now),
               _wait_s(client, settings, "addr", address or "unknown", settings.SIGNIN_MAX_FAILURES_PER_ADDRESS, now))


def _count_failure(client, settings: Settings, name: str, address: str, now: float) -> int:
    pipe = client.pipeline(transaction=True)
    for kind, value in (("user", name), ("addr", address or "unknown")):
        key = keys.signin_failures(kind, value)
        pipe.hincrby(key, "count", 1)
        pipe.hset(key, "last_at", f"{now:.3f}")
        pipe.expire(key, settings.SIGNIN_FAILURE_WINDOW_S)
    return int(pipe.execute()[0])


def sign_in_password(client, settings: Settings, name: str, password: str, address: str,
                     now: float | None = None) -> Identity:
    """Check `name` / `password` (accounts, or the shared CONSOLE_PASSWORD as account "admin").

    Returns:
        The signed-in `Identity` (audited "sign_in").
    Raises:
        SignInRefused: wrong name or password (audited, counted), or throttled (audited, with
            `retry_after_s`).
    """
    now = time.time() if now is None else now
    name = (name or "").strip()[:64]
    attempt = Identity(name or "(empty)", Role.VIEWER, address, "password")
    wait = throttle_wait_s(client, settings, name, address, now)
    if wait > 0:
        audit.record(client, attempt, "sign_in_failed", name, "throttled", {"retry_after_s": round(wait, 1)})
        raise SignInRefused(f"Too many failed sign-ins: try again in {wait:.0f} s.", retry_after_s=wait)
    ident = None
    shared = settings.CONSOLE_PASSWORD.get_secret_value() if settings.CONSOLE_PASSWORD else ""
    if shared and name == SHARED_ACCOUNT and hmac.compare_digest(password.encode(), shared.encode()):
        ident = Identity(SHARED_ACCOUNT, Role.ADMIN, address, "password", now)
    if ident is None:
        account = accounts.verify(client, name, password)
        if account is not None:
            ident = Identity(account.name, account.role, address, "accounts", now)
    if ident is None:
        failures = _count_failure(client, settings, name, address, now)
        audit.record(client, attempt, "sign_in_failed", name, "refused",
                     {"reason": "wrong name or password", "failures": failures})
        raise SignInRefused("Wrong account name or password.")
    client.delete(keys.signin_failures("user", name))
    audit.record(client, ident, "sign_in", name, "ok")
    return ident


def proxy_sign_in(client, settings: Settings, peer: str, headers, now: float | None = None) -> Identity:
    """The identity a trusted reverse proxy vouches for in its headers (proxy mode).

    `peer` is the TCP peer address; `headers` a case-insensitive mapping of the request headers.
    Only a peer in PROXY_TRUSTED_ADDRESSES is believed; the client address is then the last
    X-Forwarded-For hop. The role comes from ACCESS_ROLES on the e-mail (or user) and groups headers.

    Raises:
        SignInRefused: untrusted peer, no identity header, or no ACCESS_ROLES match (audited).
    """
    import ipaddress

    from app.access.startup import proxy_networks

    now = time.time() if now is None else now
    name = (headers.get(settings.PROXY_USER_HEADER) or "").strip()
    email = (headers.get(settings.PROXY_EMAIL_HEADER) or "").strip()
    groups = [g.strip() for g in (headers.get(settings.PROXY_GROUPS_HEADER) or "").split(",") if g.strip()]
    who = name or email or "unknown"
    try:
        trusted = any(ipaddress.ip_address(peer) in net for net in proxy_networks(settings.PROXY_TRUSTED_ADDRESSES))
    except ValueError:
        trusted = False
    address = ((headers.get("X-Forwarded-For") or "").split(",")[-1].strip() or peer) if trusted else peer
    attempt = Identity(who, Role.VIEWER, address, "proxy", now)
    if not trusted:
        audit.record(client, attempt, "sign_in_failed", who, "refused", {"reason": "not from a trusted proxy",
                                                                        "peer": peer})
        raise SignInRefused("Sign in through the console's reverse proxy.")
    if not (name or email):
        audit.record(client, attempt, "sign_in_failed", who, "refused", {"reason": "no identity header"})
        raise SignInRefused(f"The proxy sent no {settings.PROXY_USER_HEADER} / {settings.PROXY_EMAIL_HEADER} header.")
    role = role_for(settings.ACCESS_ROLES, email or name, groups)
    if role is None:
        audit.record(client, attempt, "sign_in_failed", who, "refused", {"reason": "not in ACCESS_ROLES"})
        raise SignInRefused(f"{who} is not allowed into this console. Ask an admin to add you to ACCESS_ROLES.")
    ident = Identity(who, role, address, "proxy", now)
    audit.record(client, ident, "sign_in", who, "ok")
    return ident


def role_for(rules: dict[str, list[str]], email: str, groups: list[str] | tuple[str, ...] = ()) -> Role | None:
    """The highest role whose ACCESS_ROLES patterns match, or None (not allowed in).

    Patterns: an exact e-mail ("alice@example.com", case-insensitive), a shell pattern on the
    e-mail ("*@example.com"; "*" matches everyone with an e-mail), or "group:NAME" matched against
    `groups` (the OIDC groups claim or the proxy's groups header).
    """
    email = (email or "").strip().lower()
    groups_set = {g.strip() for g in groups if g and g.strip()}
    best: Role | None = None
    for role_name, patterns in rules.items():
        role = Role.parse(role_name)
        for pattern in patterns:
            pattern = pattern.strip()
            if pattern.startswith("group:"):
                hit = pattern[6:] in groups_set
            else:
                hit = bool(email) and fnmatch.fnmatchcase(email, pattern.lower())
            if hit and (best is None or role > best):
                best = role
    return best
