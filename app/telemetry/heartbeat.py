"""Worker self-report: a consumer bootstep that writes the worker's state to Redis on a timer.

Every WORKER_HEARTBEAT_S the worker writes ``cc:worker:<hostname>`` (queues, pool, concurrency,
active and reserved tasks, processed counts, load average, pid) and scores its hostname in
``cc:workers`` with the time. The console decides online/offline from that score, so rendering
never needs a blocking ``inspect()`` broadcast. On clean shutdown the worker marks itself offline
(score ``-time``). Node names are unique per start (celery_worker.sh adds a start id), so at start a
worker forgets nodes silent for more than FORGET_AFTER_S.
"""
from __future__ import annotations

import json
import logging
import os
import time

from celery import bootsteps
from celery.worker import state as worker_state

from app.store import workers
from app.store.clients import redis_from_url
from app.telemetry.redaction import redact_text

log = logging.getLogger(__name__)

#: Nodes whose last heartbeat (or clean sign-off) is older than this leave ``cc:workers``.
FORGET_AFTER_S = 86_400


def _active(requests) -> list[dict]:
    out = []
    for req in list(requests):
        out.append({"id": req.id, "name": req.name, "started_at": getattr(req, "time_start", None),
                    "args": redact_text(str(req.argsrepr))[:200] if getattr(req, "argsrepr", None) else None})
    return out


def snapshot(consumer, interval_s: float) -> dict[str, str]:
    """The worker's self-report as flat string fields (JSON for lists/dicts)."""
    pool = consumer.pool
    queues = [q.name for q in consumer.task_consumer.queues] if consumer.task_consumer else []
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "hostname": consumer.hostname,
        "pid": str(os.getpid()),
        "pool": type(pool).__module__.rsplit(".", 1)[-1] if pool else "",
        "concurrency": str(getattr(pool, "limit", None) or getattr(pool, "num_processes", 0) or 0),
        "queues": json.dumps(sorted(queues)),
        "active": json.dumps(_active(worker_state.active_requests)),
        "reserved": str(len(worker_state.reserved_requests)),
        "processed": str(worker_state.all_total_count[0]),
        "processed_by_name": json.dumps(dict(worker_state.total_count)),
        "loadavg": json.dumps([round(x, 2) for x in load]),
        "heartbeat_s": str(interval_s),
        "last_heartbeat": str(time.time()),
        "status": "online",
    }


class RedisHeartbeat(bootsteps.StartStopStep):
    """Consumer bootstep: periodic self-report into Redis (see module docstring)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        self.tref = None
        self.interval_s = float(c.app.conf.get("cc_worker_heartbeat_s") or 2.0)
        self.client = redis_from_url(c.app.conf.result_backend)

    def beat(self, c, status: str = "online") -> None:
        try:
            data = snapshot(c, self.interval_s)
            data["status"] = status
            now = float(data["last_heartbeat"])
            workers.record_heartbeat(self.client, c.hostname, data, now, online=status == "online")
        except Exception as exc:  # noqa: BLE001 - a missed heartbeat must not stop the worker
            log.warning("worker heartbeat to Redis failed: %s", exc)

    def start(self, c):
        try:
            workers.forget_heartbeats(self.client, time.time() - FORGET_AFTER_S)
        except Exception as exc:  # noqa: BLE001 - housekeeping must not stop the worker
            log.warning("forgetting old worker nodes failed: %s", exc)
        self.beat(c)
        self.tref = c.timer.call_repeatedly(self.interval_s, self.beat, (c,), priority=10)

    def stop(self, c):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def shutdown(self, c):
        self.stop(c)
        self.beat(c, status="offline")
