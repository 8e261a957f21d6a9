"""System health: Redis reachable and fast, workers online per queue, disk space under DATA_DIR."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from app.monitor import workers as workers_mod
from app.store import server

#: Below this much free space under DATA_DIR, health is degraded.
MIN_FREE_DISK_BYTES = 1024 ** 3


def check(client, queues: tuple[str, ...], data_dir: Path, offline_after_s: float = 10.0) -> dict[str, Any]:
    """Health report: ``{'status': 'healthy'|'degraded'|'unhealthy', 'checks': {...}, 'problems': [...]}``.

    Never raises: an unreachable Redis makes the report 'unhealthy' with the reason.
    """
    checks: dict[str, Any] = {}
    problems: list[str] = []
    try:
        checks["redis"] = {"ok": True, "ping_ms": round(server.ping_ms(client), 2)}
        ws = workers_mod.list_workers(client, offline_after_s)
        online = [w.hostname for w in ws if w.online]
        consumers = workers_mod.consumers_by_queue(ws)
        checks["workers"] = {"ok": bool(online), "online": online}
        checks["queues"] = {q: {"consumers": consumers.get(q, [])} for q in queues}
        if not online:
            problems.append("no worker is online")
        problems += [f"queue {q} has no consumer" for q in queues if not consumers.get(q)]
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not fail
        checks["redis"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        problems.append("Redis is unreachable")
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(data_dir)
    checks["disk"] = {"ok": usage.free >= MIN_FREE_DISK_BYTES, "free_bytes": usage.free,
                      "total_bytes": usage.total}
    if usage.free < MIN_FREE_DISK_BYTES:
        problems.append(f"less than {MIN_FREE_DISK_BYTES // 1024 ** 2} MB free under DATA_DIR")
    status = "unhealthy" if not checks["redis"]["ok"] else ("healthy" if not problems else "degraded")
    return {"status": status, "checks": checks, "problems": problems, "checked_at": time.time()}
