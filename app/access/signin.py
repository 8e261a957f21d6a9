"""Signing in: password check with throttling, and the e-mail / group allow-list for OIDC and proxy.

Throttling: tries are counted per account name and per client address in Redis
(`app.store.signin_throttle`), each counter forgotten SIGNIN_FAILURE_WINDOW_S after its last try.
The check and the count are one atomic step taken BEFORE the password hash is computed: once an
account has SIGNIN_MAX_FAILURES counted tries (an address SIGNIN_MAX_FAILURES_PER_ADDRESS), the next
try must wait ``min(SIGNIN_DELAY_BASE_S * 2 ** (tries - limit), SIGNIN_DELAY_MAX_S)`` seconds after
the last one (defaults: 5 tries, then 2 s, 4 s, ... capped at 15 min), and an early try is refused
without computing a hash. So 50 parallel tries against one account compute at most
SIGNIN_MAX_FAILURES hashes. A success clears the account's count and takes its try back from the
address. Each try that reaches the hash and fails is audited "sign_in_failed"/"refused"; refused
early tries are counted, not each audited: the first of a burst is audited "throttled", and the
burst's count, when over one, is audited once ("throttled", ``detail.count``) when the next try gets
through.
"""
from __future__ import annotations

import fnmatch
import hmac
import time

from app.access import accounts, audit
from app.access.identity import Identity
from app.access.roles import Role
from app.errors import SignInRefused
from app.store import signin_throttle
from config.settings import Settings

#: The account name of the shared CONSOLE_PASSWORD (kept for existing installs); role admin.
SHARED_ACCOUNT = "admin"


def _try(client, settings: Settings, name: str, address: str, now: float) -> signin_throttle.Try:
    return signin_throttle.try_once(client, name, address, now, settings.SIGNIN_MAX_FAILURES,
                                    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS, settings.SIGNIN_DELAY_BASE_S,
                                    settings.SIGNIN_DELAY_MAX_S, settings.SIGNIN_FAILURE_WINDOW_S)


def sign_in_password(client, settings: Settings, name: str, password: str, address: str,
                     now: float | None = None) -> Identity:
    """Check `name` / `password` (accounts, or the shared CONSOLE_PASSWORD as account "admin").

    Returns:
        The signed-in `Identity` (audited "sign_in").
    Raises:
        SignInRefused: wrong name or password (audited, counted), throttled (counted; audited once
            per burst; `retry_after_s` set), or no hash slot free (`accounts.HASH_WAIT_S`).
    """
    now = time.time() if now is None else now
    name = (name or "").strip()[:64]
    attempt = Identity(name or "(empty)", Role.VIEWER, address, "password")
    t = _try(client, settings, name, address, now)
    if not t.allowed:
        if t.throttled_in_burst == 1:
            audit.record(client, attempt, "sign_in_failed", name, "throttled",
                         {"retry_after_s": round(t.wait_s, 1), "note": "further tries of this burst are counted"})
        raise SignInRefused(f"Too many failed sign-ins: try again in {t.wait_s:.0f} s.", retry_after_s=t.wait_s)
    if t.throttled_in_burst > 1:  # the first of the burst is audited already
        audit.record(client, attempt, "sign_in_failed", name, "throttled", {"count": t.throttled_in_burst,
                                                                            "burst": "ended"})
    ident = None
    shared = settings.CONSOLE_PASSWORD.get_secret_value() if settings.CONSOLE_PASSWORD else ""
    if shared and name == SHARED_ACCOUNT and hmac.compare_digest(password.encode(), shared.encode()):
        ident = Identity(SHARED_ACCOUNT, Role.ADMIN, address, "password", now)
    if ident is None:
        account = accounts.verify(client, name, password)
        if account is not None:
            ident = Identity(account.name, account.role, address, "accounts", now)
    if ident is None:
        audit.record(client, attempt, "sign_in_failed", name, "refused",
                     {"reason": "wrong name or password", "failures": t.tries})
        raise SignInRefused("Wrong account name or password.")
    signin_throttle.succeeded(client, name, address)
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
