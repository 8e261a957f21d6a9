"""Did each beat schedule entry run when it should have? (missed / late / failing, like Sentry Crons)

For every RedBeat entry the console knows when beat will send it next (its score in
``redbeat::schedule``, from its crontab/interval and last run) and, through the ``cc_schedule``
header that `app.schedules.save_entry` puts on each entry's messages, which task beat sent
for it last (``cc:sched:last``, written by `app.telemetry.recorder` in the beat process) and since
when a send of it has been waiting to start (``cc:sched:pending``, cleared by the worker when a run
of it starts). From these and the history of the last task:

- ``missed``: a run due more than `grace_s` ago did not start — beat has not sent it (is beat
  running?) or it was sent and still waits (does its queue have a consumer?);
- ``late``: the last run started, but more than `grace_s` after beat sent it;
- ``failing``: the last finished run failed (or was revoked) — while the newest run has not
  finished, the one sent before it (``cc:sched:prev``) decides "failing" or "ok", so an entry that
  runs as often as it is checked does not flip to "waiting" whenever a check meets a fresh send;
- ``running``, ``ok``, ``waiting`` (never sent yet, not overdue), ``disabled``.

Cost: one ZRANGE of RedBeat's schedule (`app.schedules.due_times`), one pipeline of three HGETALLs
(`app.store.schedule_runs.read`), one read per entry, one pipelined HMGET of the last two tasks of
each entry (`app.store.history.task_fields`): it grows with the number of entries, never with the
history.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from app.store import history, schedule_runs
from app.store.states import FINISHED_STATES

STATUSES = ("missed", "late", "failing", "running", "ok", "waiting", "disabled")
_TASK_FIELDS = ("state", "sent_at", "started_at", "finished_at", "exception", "queue")


@dataclass(frozen=True)
class EntryHealth:
    """One entry's health. Times are epoch seconds (None when unknown)."""

    name: str
    status: str
    detail: str
    last_task_id: str | None = None
    last_state: str | None = None
    last_sent_at: float | None = None
    last_started_at: float | None = None
    due_at: float | None = None


def _f(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def classify(name: str, enabled: bool, due_at: float | None, task_id: str | None, task: dict | None,
             grace_s: float, now: float, queue: str | None = None,
             pending_since: float | None = None, previous: dict | None = None) -> EntryHealth:
    """The status of one entry from what Redis holds about it (pure; see module docstring).

    `pending_since` is when the oldest send of the entry that has not started yet was made
    (``cc:sched:pending``), so an entry sent more often than `grace_s` still shows missed.
    """
    if not enabled:
        return EntryHealth(name, "disabled", "disabled", task_id, due_at=due_at)
    task = task or {}
    state = task.get("state")
    sent_at, started_at = _f(task.get("sent_at")), _f(task.get("started_at"))
    common = dict(last_task_id=task_id, last_state=state, last_sent_at=sent_at,
                  last_started_at=started_at, due_at=due_at)
    if due_at is not None and now - due_at > grace_s:
        return EntryHealth(name, "missed", f"due {now - due_at:.0f} s ago and not sent by beat: is beat "
                                           f"running?", **common)
    waiting_since = pending_since if pending_since is not None else (
        sent_at if task_id and sent_at and not started_at and state not in FINISHED_STATES else None)
    if waiting_since is not None and now - waiting_since > grace_s:
        where = f" in {task.get('queue') or queue}" if (task.get("queue") or queue) else ""
        return EntryHealth(name, "missed", f"a run sent {now - waiting_since:.0f} s ago has not started{where}: "
                                           f"does the queue have a consumer?", **common)
    if state in ("FAILURE", "REVOKED"):
        why = (task.get("exception") or state)[:200]
        return EntryHealth(name, "failing", f"last run {state.lower()}: {why}", **common)
    before = (previous or {}).get("state")
    if state not in FINISHED_STATES and before in ("FAILURE", "REVOKED"):
        why = ((previous or {}).get("exception") or before)[:200]
        return EntryHealth(name, "failing", f"last finished run {before.lower()}: {why}", **common)
    if sent_at and started_at and started_at - sent_at > grace_s:
        return EntryHealth(name, "late", f"last run started {started_at - sent_at:.0f} s after it was sent "
                                         f"(grace {grace_s:g} s)", **common)
    if state in ("STARTED", "PROGRESS", "RETRY", "RECEIVED"):
        return EntryHealth(name, "running", f"last run {state.lower()}", **common)
    if state == "SUCCESS":
        return EntryHealth(name, "ok", "last run succeeded", **common)
    if before == "SUCCESS":
        return EntryHealth(name, "ok", "last finished run succeeded; the newest is sent, not started yet", **common)
    if task_id:
        return EntryHealth(name, "waiting", "last run sent, not started yet", **common)
    return EntryHealth(name, "waiting", "no run recorded yet", **common)


def check(app, client, grace_s: float, now: float | None = None, entries=None) -> dict[str, EntryHealth]:
    """Health of every schedule entry: entry name -> EntryHealth.

    Args:
        app: the Celery app (RedBeat's configuration and connection).
        client: redis.Redis (decode_responses=True) on the history database.
        grace_s: how long after it is due a run may take to start.
        entries: `app.schedules.list_entries(app)` when the caller has it already.
    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    from app import schedules

    now = time.time() if now is None else now
    entries = schedules.list_entries(app) if entries is None else entries
    due = schedules.due_times(app)
    last, pending, prev = schedule_runs.read(client)
    ids = {e.name: last.get(e.name) for e in entries}
    wanted = [(n, tid) for n, tid in ids.items() if tid] + [(("prev", n), prev[n]) for n in ids if prev.get(n)]
    tasks = {n: dict(zip(_TASK_FIELDS, vals)) if any(vals) else None
             for (n, _), vals in zip(wanted, history.task_fields(client, [t for _, t in wanted], _TASK_FIELDS))}
    out = {}
    for e in entries:
        score = due.get(e.name)
        due_at = float(score) if score is not None and float(score) >= 0 else None  # -1: no more runs
        out[e.name] = classify(e.name, e.enabled, due_at,
                               ids.get(e.name), tasks.get(e.name), grace_s, now, e.queue,
                               pending.get(e.name), previous=tasks.get(("prev", e.name)))
    return out
