"""The operator audit log: who did what, when, to which target, and how it went (Redis list)."""
from __future__ import annotations

import json
import time
from typing import Any

from app.store import keys


def write(client, who: str, action: str, target: str, detail: dict[str, Any] | None = None,
          outcome: str = "ok") -> dict[str, Any]:
    """Append one entry (newest first, capped at `keys.AUDIT_MAX`); returns it."""
    entry = {"at": time.time(), "who": who, "action": action, "target": target,
             "detail": detail or {}, "outcome": outcome}
    pipe = client.pipeline(transaction=False)
    pipe.lpush(keys.AUDIT, json.dumps(entry, default=str, ensure_ascii=False))
    pipe.ltrim(keys.AUDIT, 0, keys.AUDIT_MAX - 1)
    pipe.execute()
    return entry


def recent(client, limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` entries."""
    out = []
    for raw in client.lrange(keys.AUDIT, 0, limit - 1):
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out
