""""Why is this task stuck?": check each known cause in turn and say which ones hold.

Checks, in order (each a `Finding`): unknown id; finished (not stuck); revoked; expired; result
expired (Celery reports PENDING although the history saw it finish); ETA in the future; waiting in
its queue (position and age); its queue has no consumer; reserved by a worker but not started;
rate-limited; worker heartbeat stopped while it was running; retrying (next attempt pending).

Each task is diagnosed against its own app (`app.monitor.apps`, the history's ``app`` field):
Celery's view of it comes from that app's result backend (an app monitored without a result backend
gives no Celery view: ``celery_state`` None, and the "result expired" check does not apply), and
its queue is looked up on that app's broker, with that app's workers as consumers.

Broker differences (`app.monitor.brokers`): on Redis the message itself is found (its position in
the queue, the worker's reservation in the unacked hash). RabbitMQ cannot show a message without
taking it off the queue, so there "waiting" rests on the recorded state (sent, not yet received by
a worker) and the queue's ready count, and "reserved" on the task having been received but not
started; a lost worker's unacked messages go back to the queue as soon as its connection closes,
instead of after the visibility timeout.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.monitor import brokers, workers
from app.store import history, rate_limits
from app.store.headers import SENT_AT_HEADER
from app.store.states import FINISHED_STATES


@dataclass
class Finding:
    """One cause: `code` (machine name), `holds`, and a sentence for the operator."""

    code: str
    holds: bool
    message: str


def _epoch(value) -> float | None:
    if value in (None, "", "None"):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value)).timestamp()
        except ValueError:
            return None


def _age(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def diagnose(app, client, broker, task_id: str, offline_after_s: float = 10.0,
             now: float | None = None) -> dict[str, Any]:
    """Run every check for `task_id`.

    Args:
        app: the monitored apps (`app.monitor.apps.MonitoredApps`) or the console's Celery app.
        broker: the console's broker (`brokers.Broker` or a Redis client on it); a task of another
            app is looked up on that app's broker instead (opened and closed here).
    Returns ``{'task_id', 'state' (history), 'celery_state' (None when the task's app has no result
    backend), 'app', 'findings': [Finding...], 'verdict'}`` where verdict is the message of the
    first finding that holds.
    """
    from app.monitor import apps as monitored

    now = time.time() if now is None else now
    task = history.get_task(client, task_id) or {}
    mon = monitored.coerce(app).of_task(task)
    if mon.name == monitored.CONSOLE:
        return _diagnose(mon, client, brokers.coerce(broker), task_id, task, offline_after_s, now)
    own = mon.broker()
    try:
        return _diagnose(mon, client, own, task_id, task, offline_after_s, now)
    finally:
        own.close()


def _celery_state(celery, task_id: str) -> str | None:
    """Celery's state of `task_id` on `celery`'s result backend; None when it has none."""
    from celery.backends.base import DisabledBackend
    from celery.result import AsyncResult

    if isinstance(celery.backend, DisabledBackend):
        return None
    return AsyncResult(task_id, app=celery).state


def _diagnose(mon, client, broker, task_id: str, task: dict, offline_after_s: float, now: float) -> dict[str, Any]:
    app = mon.celery
    celery_state = _celery_state(app, task_id)
    state = task.get("state")
    findings: list[Finding] = []

    def add(code: str, holds: bool, message: str) -> None:
        findings.append(Finding(code, bool(holds), message))

    if not task and celery_state in ("PENDING", None):
        add("unknown", True, "This id was never seen by the console, or its history has expired. "
            "Celery reports PENDING for any id it does not know.")
        return _result(task_id, state, celery_state, findings, mon.name)

    finished = state in FINISHED_STATES or celery_state in ("SUCCESS", "FAILURE", "REVOKED")
    revoked = state == "REVOKED" or celery_state == "REVOKED" or bool(task.get("revoke_requested"))
    add("revoked", revoked, f"The task was revoked ({task.get('reason') or task.get('revoke_requested') or 'revoke'}); "
        "it will not run. Retry it to run it again.")
    expires = _epoch(task.get("expires"))
    add("expired", bool(expires and expires < now and state not in ("SUCCESS", "FAILURE")),
        "Its expiry time has passed; a worker will discard it instead of running it.")
    add("result_expired", state in FINISHED_STATES and celery_state == "PENDING",
        f"The history says it finished ({state}) but its result has expired from the backend "
        "(result_expires), so Celery now reports PENDING.")
    add("finished", finished and not revoked,
        f"It is not stuck: it finished with {celery_state if celery_state not in ('PENDING', None) else state}.")

    queue = task.get("queue")
    eta = _epoch(task.get("eta"))
    add("eta_future", bool(eta and eta > now and not finished),
        f"It has an ETA/countdown {_age(eta - now) if eta else ''} in the future; a worker holds it "
        "reserved (unacked) until then." if eta else "No ETA.")

    if broker.locates_messages:
        waiting = broker.find_waiting(queue, task_id) if queue and not finished else None
        if waiting:
            position, msg = waiting
            sent = _epoch((msg.get("headers") or {}).get(SENT_AT_HEADER))
            add("waiting", True, f"It is waiting in {queue} at position {position + 1} (1 = next)"
                + (f", for {_age(now - sent)}" if sent else "") + ".")
        else:
            add("waiting", False, "It is not waiting in its queue.")
    else:
        ready = broker.depths([queue], live=True).ready.get(queue, 0) if queue and state == "SENT" else 0
        sent = _epoch(task.get("sent_at"))
        add("waiting", bool(ready), f"It was sent to {queue}" + (f" {_age(now - sent)} ago" if sent else "")
            + f" and no worker has received it; {queue} holds {ready} ready message(s). (RabbitMQ does not "
            "show a message's position without taking it off the queue.)" if ready
            else "It is not waiting in its queue.")

    ws = workers.list_workers(client, offline_after_s, now=now)
    consumers = workers.consumers_by_queue(ws, mon.name)
    add("no_consumer", bool(queue and not finished and not consumers.get(queue)),
        f"No online worker consumes {queue}: start one with `./celery_worker.sh` or add a consumer "
        "from the Workers tab.")

    started = state in ("STARTED", "PROGRESS")
    if broker.locates_messages:
        reserved = broker.find_reserved(task_id) if not finished else None
    else:
        reserved = state == "RECEIVED"  # delivered to a worker (unacked), not started
    add("reserved", bool(reserved and not started),
        "A worker has reserved it (prefetched, unacked) but not started it: its slots are busy "
        "or it waits for an ETA or rate limit.")
    name = task.get("name")
    limit = rate_limits.get(client, name) if name else None
    if not limit and name and name in app.tasks:
        limit = app.tasks[name].rate_limit
    add("rate_limited", bool(limit and not finished and not started),
        f"{name} is rate-limited to {limit}; workers hold extra tasks back until the limit allows.")

    host = task.get("worker")
    w = next((x for x in ws if x.hostname == host), None)
    redelivery = ("the message is redelivered after the visibility timeout" if broker.kind == "redis" else
                  "RabbitMQ redelivers the message as soon as the worker's connection closes (a hung worker "
                  "keeps it until then)")
    successor = _successor(host, ws) if host else None
    add("worker_lost", bool(started and host and (w is None or not w.online)),
        f"It was running on {host}, whose heartbeat stopped: the worker is gone or hung"
        + (f" ({successor} has started since in its place: a new start, not the one that held this task)"
           if successor else "")
        + f". With acks_late {redelivery}.")
    add("retrying", state == "RETRY", f"It failed and a retry is scheduled: {task.get('reason', '')}")
    add("running", started and bool(w and w.online),
        f"It is running on {host}" + (f" for {_age(now - task['started_at'])}" if task.get("started_at") else "") + ".")
    return _result(task_id, state, celery_state, findings, mon.name)


def _successor(host: str, ws) -> str | None:
    """An online worker of the same group on the same host started after `host` (node names are
    ``<group>.<start id>@<host>``, celery_worker.sh), or None."""
    name, _, machine = host.partition("@")
    group = name.split(".", 1)[0]
    for x in ws:
        xname, _, xmachine = x.hostname.partition("@")
        if x.online and x.hostname != host and xmachine == machine and xname.split(".", 1)[0] == group:
            return x.hostname
    return None


_ORDER = ("unknown", "revoked", "expired", "result_expired", "finished", "worker_lost", "no_consumer",
          "eta_future", "rate_limited", "waiting", "reserved", "retrying", "running")


def _result(task_id, state, celery_state, findings, app_name):
    holding = sorted((f for f in findings if f.holds), key=lambda f: _ORDER.index(f.code))
    verdict = holding[0].message if holding else "No known cause holds; check the worker logs."
    return {"task_id": task_id, "state": state, "celery_state": celery_state, "app": app_name,
            "findings": findings, "verdict": verdict}
