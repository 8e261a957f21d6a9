"""Browser sessions of signed-in people, with a per-person index so all of one person's end at once.

Key layout (names in `app.store.keys`):

- ``cc:session:<sha>``          hash ``{name, auth, signed_in_at, client}`` (all strings;
                                ``signed_in_at`` epoch seconds). ``<sha>`` is the SHA-256 (hex) of
                                the session token, the token itself is never stored. Expires
                                ``max_age_s`` after ``signed_in_at`` (absolute lifetime).
- ``cc:sessions:<name>``        set of the ``<sha>`` of that person's sessions; its expiry is pushed
                                to ``max_age_s`` from now at each sign-in, so it outlives every
                                session it lists. Entries of expired sessions are dropped when the
                                set is listed or emptied.
- ``cc:session:handoff:<sha>``  string, a session token waiting for the console's cookie route to
                                set it as an HttpOnly cookie; expires after HANDOFF_TTL_S and is
                                read once (GETDEL). ``<sha>`` is the SHA-256 of the one-time code.

`check` is the per-page-run validation: one round trip (a Lua script) that returns the session and
the person's account record together. Every function raises what redis-py raises when Redis fails
(`app.store.clients.STORE_DOWN`).
"""
from __future__ import annotations

from pathlib import Path
import hashlib
import secrets
import time
from typing import Any

from app.store import keys

#: Seconds a cookie hand-off code stays valid.
HANDOFF_TTL_S = 60

_CHECK = Path(__file__).with_name("sessions_check.lua").read_text(encoding="utf-8")

_END = Path(__file__).with_name("sessions_end.lua").read_text(encoding="utf-8")

_END_ALL = Path(__file__).with_name("sessions_end_all.lua").read_text(encoding="utf-8")


def digest(token: str) -> str:
    """The SHA-256 (hex) of a session token or hand-off code: what Redis keeps instead of it."""
    return hashlib.sha256(token.encode()).hexdigest()


def create(client, name: str, auth: str, signed_in_at: float, client_address: str, max_age_s: float) -> str:
    """Store a new session of `name` and index it under the person; returns its token (43 chars).

    Args:
        auth: how the person signed in ("accounts", "password", ...).
        signed_in_at: epoch seconds; the session expires `max_age_s` seconds after it.
    """
    token = secrets.token_urlsafe(32)
    sha = digest(token)
    ttl_s = max(1, int(signed_in_at + max_age_s - time.time()))
    pipe = client.pipeline(transaction=True)
    pipe.hset(keys.session(sha), mapping={"name": name, "auth": auth, "signed_in_at": f"{signed_in_at:.3f}",
                                          "client": client_address or ""})
    pipe.expire(keys.session(sha), ttl_s)
    pipe.sadd(keys.person_sessions(name), sha)
    pipe.expire(keys.person_sessions(name), max(ttl_s, int(max_age_s)))
    pipe.execute()
    return token


def check(client, sha: str) -> tuple[dict[str, str] | None, str | None]:
    """The session ``sha`` and its person's account record, in one round trip.

    Returns:
        ``(session, account_json)``: session is None when it ended or expired; account_json is the
        raw JSON of ``cc:users[name]`` (see `app.store.accounts`) or None when there is no account.
    """
    raw = client.eval(_CHECK, 2, keys.session(sha), keys.USERS)
    if not raw:
        return None, None
    flat, account = raw[0], raw[1]
    session = dict(zip(flat[0::2], flat[1::2]))
    return session, (account or None)


def get(client, sha: str) -> dict[str, str] | None:
    """The session ``sha`` (fields as in the module docstring), or None."""
    return client.hgetall(keys.session(sha)) or None


def remaining_s(client, sha: str) -> int:
    """Seconds until session ``sha`` expires; 0 when it has ended."""
    return max(0, int(client.ttl(keys.session(sha))))


def end(client, sha: str) -> bool:
    """End one session (and drop it from its person's index); True when it existed."""
    return bool(client.eval(_END, 1, keys.session(sha), f"{keys.PREFIX}sessions:", sha))


def end_all(client, name: str, keep_sha: str = "") -> int:
    """End every session of `name` (except `keep_sha` when given); the number ended."""
    return int(client.eval(_END_ALL, 1, keys.person_sessions(name), f"{keys.PREFIX}session:", keep_sha))


def list_for(client, name: str) -> list[dict[str, Any]]:
    """The live sessions of `name`, newest first: dicts ``{sha, name, auth, signed_in_at (float),
    client, expires_in_s (int)}``. Index entries of expired sessions are removed on the way."""
    shas = sorted(client.smembers(keys.person_sessions(name)))
    if not shas:
        return []
    pipe = client.pipeline(transaction=False)
    for sha in shas:
        pipe.hgetall(keys.session(sha))
        pipe.ttl(keys.session(sha))
    raw = pipe.execute()
    out, dead = [], []
    for i, sha in enumerate(shas):
        fields, ttl = raw[2 * i], raw[2 * i + 1]
        if not fields:
            dead.append(sha)
            continue
        out.append({"sha": sha, "name": fields.get("name", name), "auth": fields.get("auth", ""),
                    "signed_in_at": float(fields.get("signed_in_at") or 0), "client": fields.get("client", ""),
                    "expires_in_s": int(ttl)})
    if dead:
        client.srem(keys.person_sessions(name), *dead)
    return sorted(out, key=lambda d: -d["signed_in_at"])


def put_handoff(client, token: str) -> str:
    """Park `token` for the cookie route; returns the one-time code (valid HANDOFF_TTL_S seconds)."""
    code = secrets.token_urlsafe(24)
    client.set(keys.session_handoff(digest(code)), token, ex=HANDOFF_TTL_S)
    return code


def handoff_pending(client, code: str) -> bool:
    """True while `code` is parked and not yet taken (nor expired)."""
    return bool(code) and bool(client.exists(keys.session_handoff(digest(code))))


def take_handoff(client, code: str) -> str | None:
    """The token parked under `code`, removed at once (a code works once); None when unknown/expired."""
    if not code or len(code) > 100:
        return None
    return client.getdel(keys.session_handoff(digest(code)))
