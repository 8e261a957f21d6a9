"""Built-in accounts: name, role and an argon2id password hash, kept in Redis (`app.store.accounts`).

Hashes come from argon2-cffi's `PasswordHasher` with its defaults (RFC 9106 "low memory" profile:
argon2id, t=3, m=64 MiB, p=4). Passwords are never stored or logged; only the hash is. Accounts live
in Redis so every console (they are stateless) sees the same users.

At most MAX_CONCURRENT_HASHES hashes are computed at once per process (each costs 64 MiB and ~50 ms
of CPU); a verify that cannot get a slot within HASH_WAIT_S is refused (`SignInRefused`).

Every change is checked and audited through `app.access.act` as the acting identity. A password
change and a removal end every session of the person at once (`app.store.sessions.end_all`); a role
change takes effect on each session's next page run, because sessions read the role from here.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.access.check import act
from app.access.identity import Identity
from app.access.roles import Role
from app.errors import InvalidInput, SignInRefused
from app.store import accounts as store
from app.store import sessions as session_store

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_CHARS = 8
_hasher = PasswordHasher()
#: Password hashes computed at once in this process (sign-in verifies, new passwords).
MAX_CONCURRENT_HASHES = 2
#: Seconds a verify waits for a free hash slot before the sign-in is refused as busy.
HASH_WAIT_S = 10.0
_hash_slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
#: Verifies run in this process (read by the tests that bound them).
verifications = 0
_count_lock = threading.Lock()
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
    raw = store.get(client, name)
    return json.loads(raw) if raw else None


def parse_record(raw: str | None) -> dict | None:
    """An account record as stored (JSON text) as a dict with ``role`` (`Role`) and
    ``password_changed_at`` (epoch seconds; 0 for records older than that field), or None."""
    if not raw:
        return None
    d = json.loads(raw)
    return {"role": Role.parse(d["role"]), "password_changed_at": float(d.get("password_changed_at") or 0)}


def get(client, name: str) -> Account | None:
    """The account called `name`, or None."""
    d = _load(client, name)
    return Account(name, Role.parse(d["role"]), d["created_at"], d["updated_at"]) if d else None


def list_accounts(client) -> list[Account]:
    """Every account, sorted by name."""
    out = []
    for name, raw in sorted(store.all_records(client).items()):
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
        record = {"role": parsed.label, "hash": _hash(password), "created_at": now, "updated_at": now,
                  "password_changed_at": now}
        if not store.add_if_absent(client, name, json.dumps(record)):
            raise InvalidInput(f"An account named {name!r} exists; use `passwd` or remove it first.")
    return Account(name, parsed, now, now)


def remove(client, who: Identity, name: str) -> None:
    """Delete an account and end all its sessions at once.

    Raises:
        InvalidInput: no such account. PermissionDenied: `who` is not admin.
    """
    with act(client, who, "user_remove", name) as a:
        if not store.delete(client, name):
            raise InvalidInput(f"No account named {name!r}.")
        a.detail["sessions_ended"] = session_store.end_all(client, name)


def set_password(client, who: Identity, name: str, password: str, role: str | None = None) -> Account:
    """Replace an account's password (and its role when `role` is given); every session of the
    account ends at once (sessions signed in before the change are also refused on their next run).

    Raises:
        InvalidInput: no such account, or a short password. PermissionDenied: `who` is not admin.
    """
    with act(client, who, "user_passwd", name, {"role": role} if role else None) as a:
        d = _load(client, name)
        if d is None:
            raise InvalidInput(f"No account named {name!r}.")
        _check_password(password)
        if role:
            d["role"] = Role.parse(role).label
        now = time.time()
        d.update(hash=_hash(password), updated_at=now, password_changed_at=now)
        store.put(client, name, json.dumps(d))
        a.detail["sessions_ended"] = session_store.end_all(client, name)
    return Account(name, Role.parse(d["role"]), d["created_at"], d["updated_at"])


def set_role(client, who: Identity, name: str, role: str) -> Account:
    """Change an account's role; its open sessions get the new role on their next page run.

    Raises:
        InvalidInput: no such account. InvalidRole: unknown role. PermissionDenied: `who` is not admin.
    """
    with act(client, who, "user_role", name, {"role": role}):
        parsed = Role.parse(role)
        d = _load(client, name)
        if d is None:
            raise InvalidInput(f"No account named {name!r}.")
        d.update(role=parsed.label, updated_at=time.time())
        store.put(client, name, json.dumps(d))
    return Account(name, parsed, d["created_at"], d["updated_at"])


def _hash(password: str) -> str:
    with _slot():
        return _hasher.hash(password)


class _slot:
    """Hold one of the MAX_CONCURRENT_HASHES slots (raises SignInRefused after HASH_WAIT_S)."""

    def __enter__(self):
        if not _hash_slots.acquire(timeout=HASH_WAIT_S):
            raise SignInRefused("The console is busy checking other sign-ins: try again in a few seconds.",
                                retry_after_s=HASH_WAIT_S)

    def __exit__(self, *exc):
        _hash_slots.release()


def verify(client, name: str, password: str) -> Account | None:
    """The account when `password` is right, else None (same cost for unknown names).

    A hash made with older argon2 parameters is upgraded in place on success.

    Raises:
        SignInRefused: no hash slot came free within HASH_WAIT_S (the console is busy).
    """
    global verifications
    d = _load(client, (name or "").strip())
    with _slot():
        with _count_lock:
            verifications += 1
        try:
            _hasher.verify(d["hash"] if d else _DUMMY_HASH, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
    if d is None:
        return None
    if _hasher.check_needs_rehash(d["hash"]):
        d["hash"] = _hash(password)
        store.put(client, name.strip(), json.dumps(d))
    return Account(name.strip(), Role.parse(d["role"]), d["created_at"], d["updated_at"])


def exists_any(client) -> bool:
    """True when at least one account exists."""
    return bool(store.count(client))
