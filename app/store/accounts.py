"""Built-in accounts as stored: one Redis hash for all of them.

Key layout (`app.store.keys.USERS`):

- ``cc:users``  hash, account name -> JSON text ``{"role": "viewer"|"operator"|"admin",
                "hash": "<argon2id PHC string>", "created_at": float, "updated_at": float,
                "password_changed_at": float}`` (epoch seconds). No expiry.

The JSON is built and read by `app.access.accounts`; this module only moves it. Every function
raises what redis-py raises when Redis fails (`app.store.clients.STORE_DOWN`).
"""
from __future__ import annotations

from app.store import keys


def get(client, name: str) -> str | None:
    """The JSON record of `name`, or None."""
    return client.hget(keys.USERS, name)


def all_records(client) -> dict[str, str]:
    """Every account: name -> JSON record."""
    return client.hgetall(keys.USERS)


def add_if_absent(client, name: str, record_json: str) -> bool:
    """Store a new account; False (nothing written) when the name is taken."""
    return bool(client.hsetnx(keys.USERS, name, record_json))


def put(client, name: str, record_json: str) -> None:
    """Replace the record of `name`."""
    client.hset(keys.USERS, name, record_json)


def delete(client, name: str) -> bool:
    """Delete `name`; False when there was no such account."""
    return bool(client.hdel(keys.USERS, name))


def count(client) -> int:
    """How many accounts exist."""
    return int(client.hlen(keys.USERS))
