"""HTTP API tokens per person: issue, list, revoke, and turn a presented token into an `Identity`.

A token is ``cc_<id>_<secret>`` (id: 8 hex digits, shown in lists and the audit log; secret: 43
URL-safe characters, 256 random bits). It is printed once when issued; only its SHA-256 is stored
(`app.store.api_tokens`).

A token acts as its owner with at most the owner's CURRENT role: the smaller of the role it was
issued with and the role the owner has at the moment of each request — the role of the owner's
account (`app.access.accounts`, in any sign-in mode), or in oidc/proxy mode, for a name without an
account, the ACCESS_ROLES role of that e-mail. So demoting an owner shrinks their tokens at once,
and removing the account (or the ACCESS_ROLES entry) stops them. The identity's name is
``"<owner> (token <id>)"`` with auth method "token", so every audit entry names both.

Issuing and revoking are admin acts, checked and audited through `app.access.act`
("api_token_add", "api_token_revoke").
"""
from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from types import MappingProxyType

from app.access.check import act
from app.access.identity import Identity
from app.access.roles import Role
from app.errors import ConsoleError, InvalidInput
from app.store import api_tokens as store
from config.settings import Settings

TOKEN_RE = re.compile(r"^cc_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
_DURATION_RE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_S = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400})


class TokenRefused(ConsoleError):
    """The presented credentials do not identify anyone (HTTP 401)."""


class RateLimited(ConsoleError):
    """Too many requests in the current window (HTTP 429); `retry_after_s` says when to come back."""

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class TokenInfo:
    """One token as listed: id, owner, issued role, times in epoch seconds (expires_at 0 = never)."""

    id: str
    owner: str
    role: str
    created_at: float
    expires_at: float
    created_by: str = ""


def parse_duration(text: str | None) -> float | None:
    """Seconds of "30d", "12h", "90m", "45s", "2w"; None for "", "never" or None.

    Raises:
        InvalidInput: anything else, or zero.
    """
    text = (text or "").strip().lower()
    if text in ("", "never", "none"):
        return None
    m = _DURATION_RE.match(text)
    if not m or int(m.group(1)) == 0:
        raise InvalidInput(f"Expiry {text!r}: use a number and a unit, e.g. 30d, 12h, 90m, 2w, or 'never'.")
    return float(int(m.group(1)) * _UNIT_S[m.group(2)])


def owner_role(settings: Settings, name: str, account_record: str | None) -> Role | None:
    """The role `name` has now (see the module docstring), or None when they may not sign in."""
    from app.access import accounts, signin

    if account_record:
        parsed = accounts.parse_record(account_record)
        return parsed["role"] if parsed else None
    if settings.auth_mode in ("oidc", "proxy"):
        return signin.role_for(settings.ACCESS_ROLES, name)
    return None


def _info(token_id: str, rec: dict) -> TokenInfo:
    return TokenInfo(token_id, rec["owner"], rec["role"], float(rec["created_at"]), float(rec.get("expires_at") or 0),
                     rec.get("created_by", ""))


def issue(client, settings: Settings, who: Identity, owner: str, role: str | None = None,
          expires: str | None = None, now: float | None = None) -> tuple[str, TokenInfo]:
    """Issue a token for `owner`; returns ``(token text, TokenInfo)`` — the text is shown only now.

    `role` defaults to the owner's current role and may not exceed it; `expires` as `parse_duration`.

    Raises:
        InvalidInput: the owner may not sign in (no such account), a role above the owner's, or a
            bad expiry. InvalidRole: unknown role. PermissionDenied: `who` is not admin.
    """
    from app.store import accounts as account_store

    now = time.time() if now is None else now
    owner = (owner or "").strip()
    with act(client, who, "api_token_add", owner, {"role": role or "owner's"}) as a:
        current = owner_role(settings, owner, account_store.get(client, owner)) if owner else None
        if current is None:
            raise InvalidInput(f"{owner!r} may not sign in to this console (no such account"
                               f"{' or no ACCESS_ROLES match' if settings.auth_mode in ('oidc', 'proxy') else ''}).")
        wanted = Role.parse(role) if role else current
        if wanted > current:
            raise InvalidInput(f"{owner} is {current.label}: a token cannot have the {wanted.label} role.")
        ttl = parse_duration(expires)
        token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        token = f"cc_{token_id}_{secret}"
        record = {"owner": owner, "role": wanted.label, "created_at": now,
                  "expires_at": now + ttl if ttl else 0, "created_by": who.name if who else ""}
        store.save(client, token_id, store.digest(token), record)
        a.detail.update(token_id=token_id, role=wanted.label, expires_at=record["expires_at"])
    return token, _info(token_id, record)


def list_tokens(client, owner: str | None = None, now: float | None = None) -> list[TokenInfo]:
    """Live tokens (all, or `owner`'s), oldest first."""
    rows = [_info(tid, rec) for tid, rec in store.all_records(client, now).items()
            if owner is None or rec["owner"] == owner]
    return sorted(rows, key=lambda t: (t.created_at, t.id))


def revoke(client, who: Identity, name_or_id: str) -> int:
    """Revoke one token by its id, or every token of a person by their name; returns how many.

    Raises:
        InvalidInput: no token has that id and that person has no token. PermissionDenied: not admin.
    """
    target = (name_or_id or "").strip()
    with act(client, who, "api_token_revoke", target) as a:
        records = store.all_records(client)
        ids = [target] if target in records else [tid for tid, rec in records.items() if rec["owner"] == target]
        if not ids:
            raise InvalidInput(f"No token with id {target!r} and no tokens of {target!r}.")
        a.detail["revoked"] = n = store.delete(client, ids)
    return n


def identify(client, settings: Settings, token: str, client_address: str = "",
             now: float | None = None) -> Identity:
    """The identity a Bearer token acts as (one Redis round trip, which also counts the request).

    Raises:
        TokenRefused: malformed, unknown, expired or revoked token, or an owner who may no longer
            sign in.
        RateLimited: more than API_RATE_LIMIT_PER_MIN requests of this token in this minute.
    """
    now = time.time() if now is None else now
    if not TOKEN_RE.match(token or ""):
        raise TokenRefused("Malformed token: expected cc_<id>_<secret> as printed by `python -m app tokens add`.")
    found = store.lookup(client, store.digest(token), 60, now)
    if found is None:
        raise TokenRefused("Unknown, expired or revoked token.")
    token_id, rec, account, count = found
    current = owner_role(settings, rec["owner"], account)
    if current is None:
        raise TokenRefused(f"The owner of token {token_id} may no longer sign in.")
    if count > settings.API_RATE_LIMIT_PER_MIN:
        raise RateLimited(f"Token {token_id}: over {settings.API_RATE_LIMIT_PER_MIN} requests this minute.",
                          retry_after_s=60 - now % 60)
    role = min(current, Role.parse(rec["role"]))
    return Identity(f"{rec['owner']} (token {token_id})", role, client_address, "token", now)


def count_request(client, settings: Settings, subject: str, now: float | None = None) -> None:
    """Count a request of `subject` (e.g. a Basic-auth account) against API_RATE_LIMIT_PER_MIN.

    Raises:
        RateLimited: over the limit in this minute.
    """
    now = time.time() if now is None else now
    if store.hit(client, subject, 60, now) > settings.API_RATE_LIMIT_PER_MIN:
        raise RateLimited(f"{subject}: over {settings.API_RATE_LIMIT_PER_MIN} requests this minute.",
                          retry_after_s=60 - now % 60)
