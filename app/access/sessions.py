"""Browser sessions of signed-in accounts: created at sign-in, checked on every page run, ended
one at a time (sign-out), all of a person at once ("Sign out everywhere", an admin's "End
sessions", a password change, a removal).

A sign-in creates a random token (32 bytes, URL-safe) that the browser keeps in the HttpOnly
``cc_session`` cookie; Redis keeps only its SHA-256 (`app.store.sessions`), expiring
SESSION_MAX_AGE_S after the sign-in (an absolute lifetime: activity does not extend it). The page
state holds the digest, never the token.

`validate` is what every page run (fragment runs too) calls: one Redis round trip returns the
session and the account as they are now, so the role is the account's current role, a removed
account or a password changed after the sign-in ends the session, and an ended session is refused
at once.
"""
from __future__ import annotations

import time

from app.access import accounts, audit
from app.access.check import act
from app.access.identity import Identity
from app.access.roles import Role
from app.store import sessions as store

COOKIE = "cc_session"
#: Longest token accepted from a cookie (tokens are 43 characters).
TOKEN_MAX_CHARS = 100


def digest(token: str) -> str:
    """The SHA-256 (hex) of a session token: what Redis and the page state keep."""
    return store.digest(token)


def create(client, ident: Identity, max_age_s: float) -> str:
    """Store a session for `ident` (expires `max_age_s` after ``ident.signed_in_at``); its token."""
    return store.create(client, ident.name, ident.auth_method, ident.signed_in_at, ident.client_address, max_age_s)


def validate(client, sha: str | None, client_address: str, max_age_s: float,
             shared_password_set: bool) -> Identity | None:
    """The identity of session `sha` as it is now, or None when the session is over.

    The role is read from the account now (built-in accounts) or is admin (the shared
    CONSOLE_PASSWORD, while it is still configured). A session whose account is gone, whose
    password changed after the sign-in, or that is older than `max_age_s` is ended here (deleted)
    and None is returned. One Redis round trip when the session is live.

    Raises:
        What redis-py raises when Redis fails (`app.store.clients.STORE_DOWN`): the caller decides.
    """
    if not sha:
        return None
    session, account_json = store.check(client, sha)
    if session is None:
        return None
    signed_in_at = float(session.get("signed_in_at") or 0)
    auth = session.get("auth", "")
    role: Role | None = None
    if auth == "accounts":
        account = accounts.parse_record(account_json)
        if account is not None and account["password_changed_at"] <= signed_in_at:
            role = account["role"]
    elif auth == "password" and shared_password_set:
        role = Role.ADMIN
    if role is None or time.time() - signed_in_at > max_age_s:
        store.end(client, sha)
        return None
    return Identity(session["name"], role, client_address or session.get("client", ""), auth, signed_in_at)


def get(client, sha: str) -> dict | None:
    """The stored fields of session `sha` (name, auth, signed_in_at, client), or None."""
    return store.get(client, sha)


def remaining_s(client, sha: str) -> int:
    """Seconds until session `sha` expires (0: it has ended)."""
    return store.remaining_s(client, sha)


def end(client, sha: str | None) -> bool:
    """Delete one session (sign-out); True when it was live. A no-op for an unknown digest."""
    return bool(sha) and store.end(client, sha)


def sign_out_everywhere(client, who: Identity) -> int:
    """End every session of `who` (its own "Sign out everywhere"); audited; the number ended."""
    n = store.end_all(client, who.name)
    audit.record(client, who, "sign_out_everywhere", who.name, "ok", {"sessions_ended": n})
    return n


def end_sessions_of(client, who: Identity, name: str) -> int:
    """An admin ends every session of `name`; checked and audited ("user_sessions_end").

    Raises:
        PermissionDenied: `who` is not admin (audited "denied").
    """
    with act(client, who, "user_sessions_end", name) as a:
        n = a.detail["sessions_ended"] = store.end_all(client, name)
    return n


def list_for(client, name: str) -> list[dict]:
    """The live sessions of `name`, newest first (see `app.store.sessions.list_for`; no tokens)."""
    return store.list_for(client, name)


def hand_off(client, token: str) -> str:
    """A one-time code the browser exchanges at the console's cookie route for an HttpOnly cookie
    holding `token` (valid `app.store.sessions.HANDOFF_TTL_S` seconds)."""
    return store.put_handoff(client, token)


def hand_off_pending(client, code: str) -> bool:
    """True while the cookie route has not yet taken `code` (and it has not expired)."""
    return store.handoff_pending(client, code)


def take_hand_off(client, code: str) -> str | None:
    """The token parked under `code` (once), or None."""
    return store.take_handoff(client, code)
