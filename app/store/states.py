"""Task state groups used by the history (Celery's states plus SENT, RECEIVED and PROGRESS).

Source: celery.states (PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, REVOKED, RETRY); SENT is
Flower's/celery events' name for "published"; PROGRESS is our custom state for `update_state`.
"""
from __future__ import annotations

from types import MappingProxyType

#: Every state the history indexes, in the order of a task's life.
STATES = ("SENT", "RECEIVED", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE", "REVOKED")
#: A task in one of these will not change any more (unless re-sent).
FINISHED_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
#: Waiting or running: the task may still use its inputs and outputs.
ACTIVE_STATES = ("SENT", "RECEIVED", "STARTED", "PROGRESS", "RETRY")
#: States counted per worker (``cc:wcount:<host>``).
WORKER_COUNTED_STATES = frozenset({"SUCCESS", "FAILURE", "RETRY", "REVOKED"})
#: States whose change carries a runtime for the per-name histogram.
TIMED_STATES = frozenset({"SUCCESS", "FAILURE"})
#: Which ``<state>_at`` field a state's timestamp goes to.
STATE_TIME_FIELD = MappingProxyType({"SENT": "sent_at", "RECEIVED": "received_at", "STARTED": "started_at",
                                     "SUCCESS": "finished_at", "FAILURE": "finished_at", "REVOKED": "finished_at"})
#: The one state without a state index (``cc:idx:state:SUCCESS``): most tasks end in it, so its
#: index would cost an entry per task (the history aims at <= 1 KB per task). Its count is the rest of the
#: global index, and a SUCCESS filter checks the task's own state (`app.store.history`).
UNINDEXED_STATE = "SUCCESS"
