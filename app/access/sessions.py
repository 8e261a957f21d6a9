"""Browser sessions of signed-in accounts, so a reload or a link opened in a new tab stays signed in.

A sign-in creates a random token (32 bytes, URL-safe) that the browser keeps in the ``cc_session``
cookie; Redis keeps only its SHA-256 (`keys.session`) with the identity, expiring SESSION_MAX_AGE_S
after the sign-in (an absolute lifetime: activity does not extend it). Sign-out deletes the key, so
the cookie is worthless from then on even if a copy of it survives. The console looks a token up
once per new browser connection, then keeps the identity in ``st.session_state``.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time

from app.access.identity import Identity
from app.access.roles import Role
from app.store import keys

COOKIE = "cc_session"


def _key(token: str) -> str:
    return keys.session(hashlib.sha256(token.encode()).hexdigest())


def create(client, ident: Identity, max_age_s: float) -> str:
    """Store a session for `ident` (expires `max_age_s` after ``ident.signed_in_at``); its token."""
    token = secrets.token_urlsafe(32)
    ttl_s = max(1, int(ident.signed_in_at + max_age_s - time.time()))
    client.set(_key(token), json.dumps(ident.to_dict()), ex=ttl_s)
    return token


def lookup(client, token: str | None, client_address: str, max_age_s: float) -> Identity | None:
    """The identity of a live session token (with this connection's address), or None."""
    if not token or len(token) > 100:
        return None
    raw = client.get(_key(token))
    if not raw:
        return None
    d = json.loads(raw)
    if time.time() - float(d["signed_in_at"]) > max_age_s:
        return None
    return Identity(d["name"], Role.parse(d["role"]), client_address or d.get("client_address", ""),
                    d["auth_method"], float(d["signed_in_at"]))


def end(client, token: str | None) -> None:
    """Delete a session (sign-out); a no-op for an unknown token."""
    if token:
        client.delete(_key(token))
