"""The console's Redis store: the key layout and every read and write of the task history.

It imports nothing else from `app` (tests/test_layers.py checks it); everything above it — the
Celery-signal adapter (`app.telemetry`), the monitor (`app.monitor`), the alerts, services and
pages — goes through these modules instead of naming keys or sending Redis commands (only the
broker adapters, `app.monitor.brokers`, read a broker's own keys themselves):

- `keys`          every Redis key name (the layout)
- `clients`       `redis_from_url`: a decode_responses client with short timeouts
- `headers`       message headers the console stamps (``cc_sent_at``, ``cc_retry_of``)
- `states`        state groups (STATES, FINISHED_STATES, ACTIVE_STATES, ...)
- `tokens`        the args-search tokeniser shared by writer and reader
- `histogram`     runtime buckets and quantiles from them
- `writer`        WRITE: ``HistoryWriter`` (``record(StateChange(...))`` / ``write(...)``, ``flush()``,
                  ``close()``; one per process, built by `app.runtime`), ``write_batch``
- `history`       READ: ``list_tasks`` (pages), ``count_by_state``, ``get_task``, ``timeline``,
                  ``children``, ``runtime_percentiles``, ``per_minute``, windows for reports and
                  clean-ups, ``trim``
- `queue_history` queue depth/latency series and "no consumer" flags
- `locks`, `mail`, `beat`  run-once locks, email idempotency records, default-schedule marks
- `workers`       worker records: Redis heartbeats, Celery-event workers, per-worker counts
- `queues_seen`   queue names seen in events and active_queues replies
- `pauses`        queues an operator paused
- `rate_limits`   task rate limits set from the console
- `rates`         finished/failed tasks per minute by task name and queue (failure-rate alerts)
- `alerts`        alert rules, their evaluation state and the alert history
- `results`       Celery's result records in a Redis result backend (read, deleted by clean-ups)
- `result_backend` ``ConsoleRedisBackend``: the Celery result backend storing each state (and, at
                  STARTED, the delivery count) in one script call (``store_result.lua``)
- `server`        the server itself: PING, INFO memory, reachability and data dir by URL
- `accounts`, `audit`, `sessions`, `signin_throttle`  the access data: accounts, the audit stream,
                  browser sessions with their per-person index, sign-in try counters

A second writer (e.g. a Celery-events ingester) needs only::

    from app.store.writer import HistoryWriter, StateChange
    writer = HistoryWriter(lambda: redis_from_url(url), retention_s=..., max_tasks=...)
    writer.record(StateChange(task_id, "SUCCESS", timestamp=ev_ts, name=..., worker=..., runtime_s=...))
    writer.close()

Changes are ordered by their timestamp: an older change never moves a task's state backwards.
"""
