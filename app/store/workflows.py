"""Saved workflows and their runs (the Workflows page, and beat's `run_saved` task).

Keys (names in `app.store.keys`):

- ``cc:workflows``              hash, workflow name -> JSON ``{"definition": <the workflow dict of
                                `app.workflows.model`>, "saved_at": epoch s, "saved_by": name}``.
- ``cc:workflow:runs:<name>``   list, JSON ``{"at": epoch s, "step_ids": [...], "result_id", "kind",
                                "name"}`` of each run, newest first, the last RUNS_KEPT kept; it goes
                                when the workflow is deleted.
"""
from __future__ import annotations

import json
import time
from typing import Any

from app.store import keys

RUNS_KEPT = 20


def save(client, name: str, definition: dict[str, Any], saved_by: str) -> None:
    """Store (or replace) the workflow `name`."""
    client.hset(keys.WORKFLOWS, name, json.dumps({"definition": definition, "saved_at": time.time(),
                                                  "saved_by": saved_by}))


def get(client, name: str) -> dict[str, Any] | None:
    """``{"definition", "saved_at", "saved_by"}`` of `name`, or None."""
    raw = client.hget(keys.WORKFLOWS, name)
    return json.loads(raw) if raw else None


def names(client) -> list[str]:
    """Saved workflow names, sorted."""
    return sorted(client.hkeys(keys.WORKFLOWS))


def delete(client, name: str) -> bool:
    """Remove `name` and its runs; True when it was there."""
    pipe = client.pipeline(transaction=False)
    pipe.hdel(keys.WORKFLOWS, name)
    pipe.delete(keys.workflow_runs(name))
    return bool(pipe.execute()[0])


def record_run(client, name: str, run: dict[str, Any]) -> None:
    """Prepend `run` (JSON-able; ``at`` added) to `name`'s runs, keeping the last RUNS_KEPT."""
    pipe = client.pipeline(transaction=False)
    pipe.lpush(keys.workflow_runs(name), json.dumps({"at": time.time(), **run}))
    pipe.ltrim(keys.workflow_runs(name), 0, RUNS_KEPT - 1)
    pipe.execute()


def runs(client, name: str, limit: int = RUNS_KEPT) -> list[dict[str, Any]]:
    """`name`'s runs, newest first."""
    return [json.loads(r) for r in client.lrange(keys.workflow_runs(name), 0, limit - 1)]
