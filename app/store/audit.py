"""The audit log as stored: one Redis stream.

Key layout (`app.store.keys.AUDIT_LOG`):

- ``cc:audit:log``  stream; each entry's fields are strings: ``at`` (epoch seconds), ``who``,
                    ``role``, ``client``, ``auth``, ``action``, ``target``, ``outcome``, ``detail``
                    (JSON). Capped by count: each XADD carries ``MAXLEN ~ max_entries`` (Redis drops
                    the oldest whole stream nodes, so the stream may hold ~100 entries more). No
                    expiry. Entry ids are ``<epoch ms>-<seq>``.

`app.access.audit` builds and decodes the entries; this module only moves them. Every function
raises what redis-py raises when Redis fails (`app.store.clients.STORE_DOWN`).
"""
from __future__ import annotations

from app.store import keys


def append(client, fields: dict[str, str], max_entries: int) -> str:
    """XADD one entry (capped at about `max_entries`); its stream id."""
    return client.xadd(keys.AUDIT_LOG, fields, maxlen=max_entries, approximate=True)


def newest_first(client, hi: str, lo: str, count: int) -> list[tuple[str, dict[str, str]]]:
    """Up to `count` entries with ids in [lo, hi] ("+" / "-" for open ends), newest first."""
    return client.xrevrange(keys.AUDIT_LOG, max=hi, min=lo, count=count)


def length(client) -> int:
    """Entries in the log now."""
    return int(client.xlen(keys.AUDIT_LOG))
