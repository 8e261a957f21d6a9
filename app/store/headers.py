"""Message headers the console stamps on every task it publishes (read back by the monitor).

- ``cc_sent_at``: epoch seconds at publish (`app.telemetry.recorder`, before_task_publish); the
  monitor reads it from waiting messages for queue latency and for "why is this task stuck?".
- ``cc_retry_of``: id of the task a "retry with the same arguments" re-sends (`app.monitor.actions`);
  recorded as the new task's ``retry_of``.
"""
from __future__ import annotations

SENT_AT_HEADER = "cc_sent_at"
RETRY_OF_HEADER = "cc_retry_of"
#: Names the beat schedule entry a task was sent for (put on each entry's messages by
#: `app.schedules.save_entry`); read by the recorder for `app.store.schedule_runs`.
SCHEDULE_HEADER = "cc_schedule"
