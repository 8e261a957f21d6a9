"""AI answers already paid for, per task id (key `keys.ai_answer`): a redelivered or
retried AI task returns the stored answer instead of calling the provider again."""
from __future__ import annotations

import json
from typing import Any

from app.store import keys

#: How long a paid-for answer is kept for reuse.
TTL_S = 2 * 86_400


def get(client, task_id: str) -> dict[str, Any] | None:
    """The stored answer of `task_id`, or None."""
    raw = client.get(keys.ai_answer(task_id))
    return json.loads(raw) if raw else None


def put(client, task_id: str, answer: dict[str, Any], ttl_s: int = TTL_S) -> None:
    """Store `answer` (JSON-serialisable) for `task_id`.

    Raises:
        TypeError / ValueError: not JSON-serialisable.
    """
    client.set(keys.ai_answer(task_id), json.dumps(answer), ex=ttl_s)
