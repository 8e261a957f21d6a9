"""Failures grouped by cause ("Issues", as Sentry and Leek group them).

A failure's fingerprint is a hash of its task name, exception type and normalised message: numbers,
UUIDs, hex ids, e-mail addresses, URLs and file paths are masked, so "Timeout after 31 s on /data/a.pdf"
and "Timeout after 12 s on /data/b.pdf" fall in one group. The recorder computes it once per
failure (`fingerprint`, a few microseconds) and the history write script keeps per group
(``cc:fgroup:<fp>``): count, first/last seen, the newest failed task, counts per queue, worker and
monitored app (``a|<app>``, "console" for the console's own tasks), and the failed task ids by time
(``cc:fgroup:ids:<fp>``) for the sparkline and "retry all".
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from app.store import keys

#: One pass: the first alternative that matches at a position wins (ids before numbers).
_MASK_RE = re.compile(
    r"(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+)"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<path>(?:[A-Za-z]:\\|\.{0,2}/)[^\s'\",:;)]+)"
    r"|(?P<hex>\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b)"
    r"|(?P<n>\d+(?:\.\d+)?)")
_MASK_OF = MappingProxyType({"id": "<id>", "url": "<url>", "email": "<email>", "path": "<path>", "hex": "<hex>",
                             "n": "<n>"})
_NEEDS_MASK = re.compile(r"[\d/@\\]")
MESSAGE_MAX = 300


def split_exception(text: str) -> tuple[str, str]:
    """``"ValueError: bad row 7"`` -> ``("ValueError", "bad row 7")`` (the recorder's format)."""
    head, sep, rest = (text or "").partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w.]*", head):
        return head, rest
    return (text or "Exception").split(":", 1)[0][:100] or "Exception", ""


@lru_cache(maxsize=2048)
def normalise(message: str) -> str:
    """`message` with ids, numbers, paths, URLs and addresses masked; first line, cut to 300 chars."""
    text = (message or "").strip().split("\n", 1)[0][:MESSAGE_MAX * 2]
    if _NEEDS_MASK.search(text):
        text = _MASK_RE.sub(lambda m: _MASK_OF[m.lastgroup], text)
    return text[:MESSAGE_MAX]


def fingerprint(name: str, exc_type: str, message: str) -> tuple[str, str]:
    """(16-hex fingerprint, normalised message) of a failure of task `name`."""
    norm = normalise(message)
    digest = hashlib.blake2b(f"{name}\x1f{exc_type}\x1f{norm}".encode(), digest_size=8).hexdigest()
    return digest, norm


def list_groups(client, limit: int = 50, spark_hours: int = 24, now: float | None = None,
                app: str | None = None) -> list[dict[str, Any]]:
    """The `limit` most recently seen groups, newest first: ``{fingerprint, name, exc_type, message,
    count, first_at, last_at, last_id, queues: {q: n}, workers: {w: n}, apps: {app: n}, spark:
    [failures per hour, oldest first, `spark_hours` long]}`` (two pipelined round trips; a third,
    of one field per group, for groups written before apps were counted: their newest task's app).

    With `app` (a monitored app's name, "console" for the console's own), only those of the `limit`
    newest groups that hold failures of that app's tasks.

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    now = time.time() if now is None else now
    fps = client.zrevrange(keys.FAILURE_GROUPS, 0, limit - 1)
    if not fps:
        return []
    pipe = client.pipeline(transaction=False)
    start = now - spark_hours * 3600
    for fp in fps:
        pipe.hgetall(keys.failure_group(fp))
        for h in range(spark_hours):
            pipe.zcount(keys.failure_group_ids(fp), start + h * 3600, f"({start + (h + 1) * 3600}")
    replies = pipe.execute()
    out = []
    step = 1 + spark_hours
    for i, fp in enumerate(fps):
        raw, spark = replies[i * step], replies[i * step + 1:(i + 1) * step]
        if not raw:
            continue
        out.append({"fingerprint": fp, "name": raw.get("name"), "exc_type": raw.get("exc_type"),
                    "message": raw.get("message"), "count": int(raw.get("count") or 0),
                    "first_at": float(raw.get("first_at") or 0), "last_at": float(raw.get("last_at") or 0),
                    "last_id": raw.get("last_id"),
                    "queues": {k[2:]: int(v) for k, v in raw.items() if k.startswith("q|")},
                    "workers": {k[2:]: int(v) for k, v in raw.items() if k.startswith("w|")},
                    "apps": {k[2:]: int(v) for k, v in raw.items() if k.startswith("a|")},
                    "spark": [int(x) for x in spark]})
    untold = [g for g in out if not g["apps"] and g["last_id"]]
    if untold:
        pipe = client.pipeline(transaction=False)
        for g in untold:
            pipe.hget(keys.task(g["last_id"]), "app")
        for g, name in zip(untold, pipe.execute()):
            g["apps"] = {name or "console": g["count"]}
    if app:
        out = [g for g in out if app in g["apps"]]
    return out


def exists(client, fp: str) -> bool:
    """True while group `fp` is kept (it expires HISTORY_RETENTION_S after its last failure)."""
    return bool(client.exists(keys.failure_group(fp)))


def group_ids(client, fp: str, limit: int = 500) -> list[str]:
    """The newest `limit` failed task ids of group `fp`."""
    return client.zrevrange(keys.failure_group_ids(fp), 0, limit - 1)


def example(client, group: dict[str, Any]) -> dict[str, Any]:
    """The newest failure of a group: ``{id, exception, traceback, args, kwargs, queue, worker}``."""
    fields = ("exception", "traceback", "args", "kwargs", "queue", "worker")
    if not group.get("last_id"):
        return {}
    values = client.hmget(keys.task(group["last_id"]), *fields)
    return {"id": group["last_id"], **dict(zip(fields, values))}


def retryable_ids(client, fp: str, limit: int = 500, app: str | None = None) -> list[str]:
    """Ids of the group still in FAILURE and not retried yet (newest first, at most `limit`); with
    `app`, only that monitored app's tasks ("console": the console's own)."""
    ids = group_ids(client, fp, limit)
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for tid in ids:
        pipe.hmget(keys.task(tid), "state", "retried_as", "app")
    return [tid for tid, (state, retried, owner) in zip(ids, pipe.execute())
            if state == "FAILURE" and not retried and (app is None or (owner or "console") == app)]


def to_json(group: dict[str, Any]) -> str:
    return json.dumps(group, default=str)
