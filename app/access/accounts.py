"""Built-in accounts: name, role and an argon2id password hash, kept in Redis (`keys.USERS`).

Hashes come from argon2-cffi's `PasswordHasher` with its defaults (RFC 9106 "low memory" profile:
argon2id, t=3, m=64 MiB, p=4). Passwords are never stored or logged; only the hash is. Accounts live
in Redis so every console (they are stateless) sees the same users.

Every change is checked and audited through `app.access.act` as the acting identity.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.access.check import act
from app.access.identity import Identity
from app.access.roles import Role
from app.errors import InvalidInput
from app.store import keys

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS = 8
_hasher = PasswordHasher()
#: Verified against for unknown names, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Account:
    """One account as stored (the hash never leaves this module except for `verify`)."""

    name: str
    role: Role
    created_at: float
    updated_at: float


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise InvalidInput(f"Account name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', "
                           f"starting with a letter or digit.")
    return name


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_CHARS} characters.")
    return password


def _load(client, name: str) -> dict | None:
    raw = client.hget(keys.USERS, name)
    return json.loads(raw) if raw else None


def get(client, name: str) -> Account | None:
    """The account called `name`, or None."""
    d = _load(client, name)
    return Account(name, Role.parse(d["role"]), d["created_at"], d["updated_at"]) if d else None


def list_accounts(client) -> list[Account]:
    """Every account, sorted by name."""
    out = []
    for name, raw in sorted(client.hgetall(keys.USERS).items()):
        d = json.loads(raw)
        out.append(Account(name if isinstance(name, str) else name.decode(), Role.parse(d["role"]),
                           d["created_at"], d["updated_at"]))
    return out


def add(client, who: Identity, name: str, role: str, password: str) -> Account:
    """Create an account.

    Raises:
        InvalidInput: bad name, short password, or the name is taken. InvalidRole: unknown role.
        PermissionDenied: `who` is not admin.
    """
    with act(client, who, "user_add", name, {"role": role}):
        name, parsed = _check_name(name), Role.parse(role)
        _check_password(password)
        now = time.time()
        record = {"role": parsed.label, "hash": _hasher.hash(password), "created_at": now, "updated_at": now}
        if not client.hsetnx(keys.USERS, name, json.dumps(record)):
            raise InvalidInput(f"An account named {name!r} exists; use `passwd` or remove it first.")
    return Account(name, parsed, now, now)


def remove(client, who: Identity, name: str) -> None:
    """Delete an account (its open sessions end at their next page load).

    Raises:
        InvalidInput: no such account. PermissionDenied: `who` is not admin.
    """
    with act(client, who, "user_remove", name):
        if not client.hdel(keys.USERS, name):
            raise InvalidInput(f"No account named {name!r}.")


def set_password(client, who: Identity, name: str, password: str, role: str | None = None) -> Account:
    """Replace an account's password (and its role when `role` is given).

    Raises:
        InvalidInput: no such account, or a short password. PermissionDenied: `who` is not admin.
    """
    with act(client, who, "user_passwd", name, {"role": role} if role else None):
        d = _load(client, name)
        if d is None:
            raise InvalidInput(f"No account named {name!r}.")
        _check_password(password)
        if role:
            d["role"] = Role.parse(role).label
        d.update(hash=_hasher.hash(password), updated_at=time.time())
        client.hset(keys.USERS, name, json.dumps(d))
    return Account(name, Role.parse(d["role"]), d["created_at"], d["updated_at"])


def verify(client, name: str, password: str) -> Account | None:
    """The account when `password` is right, else None (same cost for unknown names).

    A hash made with older argon2 parameters is upgraded in place on success.
    """
    d = _load(client, (name or "").strip())
    try:
        _hasher.verify(d["hash"] if d else _DUMMY_HASH, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if d is None:
        return None
    if _hasher.check_needs_rehash(d["hash"]):
        d["hash"] = _hasher.hash(password)
        client.hset(keys.USERS, name.strip(), json.dumps(d))
    return Account(name.strip(), Role.parse(d["role"]), d["created_at"], d["updated_at"])


def exists_any(client) -> bool:
    """True when at least one account exists."""
    return bool(client.hlen(keys.USERS))
