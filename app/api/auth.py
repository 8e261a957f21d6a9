"""Who an API request is: a Bearer token of a person, or HTTP Basic with an account's password.

``Authorization: Bearer cc_<id>_<secret>`` — `app.access.api_tokens.identify` (one Redis round trip,
the owner's current role caps the token's). ``Authorization: Basic base64(name:password)`` — the
console's password sign-in (`app.access.signin.sign_in_password`: throttled per account and address,
one argon2 verify and one "sign_in" audit entry), the way Flower's ``--basic-auth`` is used. A
script polling with Basic auth would pay that on every request, so credentials verified in the last
`RecentBasic.TTL_S` seconds are recognised by an HMAC under a per-process random key (the password
itself is never kept) as long as the account's record still shows the same password: a password
change or a removal ends the reprieve at once, and the role is read fresh on every request.

Both schemes count against API_RATE_LIMIT_PER_MIN per token or account. Nothing else is accepted:
without credentials every route answers 401.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time

from app.access import Identity, accounts, api_tokens, signin
from app.store import accounts as account_store

#: The WWW-Authenticate header of a 401: both schemes the API accepts.
CHALLENGE = 'Bearer realm="celery-console", Basic realm="celery-console"'


class RecentBasic:
    """Basic credentials verified recently: HMAC(name, password) -> (verified at, the account's
    ``password_changed_at`` then). At most `MAX` entries (the oldest dropped first)."""

    TTL_S = 60.0
    MAX = 1_000

    def __init__(self):
        self._key = secrets.token_bytes(32)
        self._seen: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _mac(self, name: str, password: str) -> str:
        return hmac.new(self._key, f"{name}\0{password}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def identity(self, client, name: str, password: str, peer: str, now: float) -> Identity | None:
        """The identity when these credentials were verified within TTL_S and the account still has
        the password it had then (role read now); else None."""
        with self._lock:
            seen = self._seen.get(self._mac(name, password))
        if seen is None or now - seen[0] > self.TTL_S:
            return None
        record = accounts.parse_record(account_store.get(client, name))
        if record is None or record["password_changed_at"] != seen[1]:
            return None
        return Identity(name, record["role"], peer, "accounts", seen[0])

    def remember(self, client, name: str, password: str, now: float) -> None:
        """Note a successful verify of an account's password (the shared password is not kept)."""
        record = accounts.parse_record(account_store.get(client, name))
        if record is None:
            return
        with self._lock:
            if len(self._seen) >= self.MAX:
                self._seen.pop(next(iter(self._seen)))
            self._seen[self._mac(name, password)] = (now, record["password_changed_at"])


def authenticate(client, settings, authorization: str | None, peer: str,
                 recent: RecentBasic | None = None) -> Identity:
    """The identity of a request from `peer` carrying the Authorization header `authorization`.

    Raises:
        TokenRefused: no credentials, an unknown scheme, or a bad/expired/revoked token.
        SignInRefused: wrong Basic name or password, or throttled sign-ins (audited).
        RateLimited: over API_RATE_LIMIT_PER_MIN this minute.
    """
    scheme, _, value = (authorization or "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return api_tokens.identify(client, settings, value, peer)
    if scheme == "basic" and value:
        try:
            name, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise api_tokens.TokenRefused("Malformed Basic credentials.") from None
        if not sep:
            raise api_tokens.TokenRefused("Malformed Basic credentials: expected name:password.")
        api_tokens.count_request(client, settings, f"basic:{name[:64]}")
        now = time.time()
        if recent is not None and (known := recent.identity(client, name, password, peer, now)) is not None:
            return known
        who = signin.sign_in_password(client, settings, name, password, peer)
        if recent is not None and who.auth_method == "accounts":
            recent.remember(client, name, password, now)
        return who
    raise api_tokens.TokenRefused("Sign in: send 'Authorization: Bearer <token>' (python -m app tokens add NAME) "
                                  "or HTTP Basic with an account's name and password.")
