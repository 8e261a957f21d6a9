"""HTTP API tokens of people, stored hashed, and the per-token request counter.

Key layout (names in `app.store.keys`):

- ``cc:apitokens``            hash, token id -> JSON ``{owner, role, created_at, expires_at,
                              digest, created_by}``: ``role`` the most the token may do (the owner's
                              current role caps it at use), times in epoch seconds (``expires_at``
                              0 = never), ``digest`` the SHA-256 (hex) of the token. No expiry; an
                              expired entry is dropped when the hash is listed.
- ``cc:apitoken:<digest>``    string, the token id; expires at ``expires_at`` (EXPIREAT), so an
                              expired token is unknown at once.
- ``cc:apirate:<subject>:<n>`` integer, requests of a token id (or ``basic:<account>``) in fixed
                              window ``n`` = epoch seconds // window; expires after two windows.

The token itself is never stored: only its SHA-256, which is enough for a random 256-bit secret (no
dictionary to guess from, so no slow hash is needed). `lookup` is the per-request check: one round
trip (a Lua script) returning the token's record, its owner's account record and the request count
of the current window. Every function raises what redis-py raises when Redis fails
(`app.store.clients.STORE_DOWN`).
"""
from __future__ import annotations

from pathlib import Path
import hashlib
import json
import time
from typing import Any

from app.store import keys

_LOOKUP = Path(__file__).with_name("api_tokens_lookup.lua").read_text(encoding="utf-8")


def digest(token: str) -> str:
    """SHA-256 (hex) of a token as given by a client."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def save(client, token_id: str, token_digest: str, record: dict[str, Any]) -> None:
    """Store a new token: its record under `token_id` and the digest -> id link (expiring at
    ``record['expires_at']`` when that is set)."""
    pipe = client.pipeline(transaction=True)
    pipe.hset(keys.API_TOKENS, token_id, json.dumps({**record, "digest": token_digest}))
    pipe.set(keys.api_token(token_digest), token_id)
    if record.get("expires_at"):
        pipe.expireat(keys.api_token(token_digest), int(record["expires_at"]) + 1)
    pipe.execute()


def all_records(client, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Token id -> record (with ``digest``) of every live token; expired ones are deleted here."""
    now = time.time() if now is None else now
    out, expired = {}, []
    for token_id, raw in client.hgetall(keys.API_TOKENS).items():
        rec = json.loads(raw)
        if rec.get("expires_at") and rec["expires_at"] <= now:
            expired.append(token_id)
        else:
            out[token_id] = rec
    if expired:
        client.hdel(keys.API_TOKENS, *expired)
    return out


def delete(client, token_ids: list[str]) -> int:
    """Remove tokens (their record and digest link) at once; returns how many existed."""
    if not token_ids:
        return 0
    records = client.hmget(keys.API_TOKENS, token_ids)
    pipe = client.pipeline(transaction=True)
    for raw in records:
        if raw:
            pipe.delete(keys.api_token(json.loads(raw)["digest"]))
    pipe.hdel(keys.API_TOKENS, *token_ids)
    return int(pipe.execute()[-1])


def lookup(client, token_digest: str, window_s: int = 60,
           now: float | None = None) -> tuple[str, dict[str, Any], str | None, int] | None:
    """The token with SHA-256 `token_digest`, counted as one request of the current window.

    Returns ``(token id, record, owner's account record (JSON text) or None, requests in this
    window including this one)``, or None for an unknown or expired token (nothing counted).
    """
    now = time.time() if now is None else now
    got = client.register_script(_LOOKUP)(
        keys=[keys.api_token(token_digest), keys.API_TOKENS, keys.USERS],
        args=[keys.API_RATE_PREFIX, int(now // window_s), 2 * window_s])
    if not got:
        return None
    token_id, raw, account, count = got
    return token_id, json.loads(raw), account or None, int(count)


def hit(client, subject: str, window_s: int = 60, now: float | None = None) -> int:
    """Count one request of `subject` (e.g. ``basic:<account>``) in the current fixed window;
    returns the window's count including it."""
    now = time.time() if now is None else now
    key = keys.api_rate(subject, int(now // window_s))
    pipe = client.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, 2 * window_s, nx=True)
    return int(pipe.execute()[0])
