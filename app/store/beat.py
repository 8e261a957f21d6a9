"""Which default beat schedule entries were installed once (``cc:beat:seeded``, a set of names)."""
from __future__ import annotations

from app.store import keys


def mark_seeded(client, name: str) -> bool:
    """Mark entry `name` as installed; True when this call marked it (first time), False if it was."""
    return bool(client.sadd(keys.BEAT_SEEDED, name))


def unmark_seeded(client, name: str) -> None:
    """Forget that `name` was installed (when installing it failed after marking)."""
    client.srem(keys.BEAT_SEEDED, name)


def forget_all(client) -> None:
    """Forget every mark (the defaults are installed again at the next beat start)."""
    client.delete(keys.BEAT_SEEDED)
