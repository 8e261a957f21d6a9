"""Every Redis key the console writes or reads, in one place.

Only `app.store` modules and the broker adapters (`app.monitor.brokers`, for Celery's and kombu's
own keys) use these names; everything else calls a named `app.store` module instead
(tests/test_layers.py checks it).

Task history (written by `app.store.writer` as tasks change state, read by `app.store.history`):

- ``cc:task:<id>``            hash, one task's summary and its state timeline (fields in
                              `app.store.writer`); expires HISTORY_RETENTION_S after it was
                              created or finished.
- ``cc:idx:all``              sorted set, task id scored by first-seen time (epoch seconds).
- ``cc:idx:state:<STATE>``    sorted set, task ids now in STATE, scored by when they entered it
                              (none for SUCCESS, `app.store.states.UNINDEXED_STATE`; there is no
                              queue or worker index: these filters are checked on the walked tasks).
- ``cc:idx:name:<task name>`` sorted set, task ids of that task name, scored by first-seen time.
- ``cc:names``                set of every task name seen.
- ``cc:count:<STATE>:<YYYYmmddHHMM>`` integer, tasks entering STATE in that UTC minute (TTL 2 days).
- ``cc:children:<id>``        set, ids of tasks published by task <id> (same TTL as the hash).
- ``cc:idx:word:<token>``     sorted set, ids of tasks whose args/kwargs contain <token> (lower-case
                              word of 3+ characters), scored by first-seen time; args-text search.
                              Keeps the newest WORD_INDEX_MAX (app.store.tokens) ids; expires
                              HISTORY_RETENTION_S after its last use.
- ``cc:hist:<task name>``     hash, runtime histogram: bucket upper bound in seconds -> count, and
                              ``sum`` -> total runtime in seconds.
- ``cc:wcount:<host>``        hash, finished tasks per state (SUCCESS/FAILURE/RETRY/REVOKED) by worker.
- ``cc:ratelimits``            hash, task name -> rate limit set by an operator from the console
                              (`app.store.rate_limits`).
- ``cc:audit:log``            stream, the audit log (`app.access.audit`): one entry per state-changing
                              act, sign-in and refusal, fields ``at who role client auth action target
                              outcome detail``; append-only (XADD with MAXLEN ~ AUDIT_MAX_ENTRIES).

Access (written and read by `app.access`):

- ``cc:users``                    hash, account name -> JSON ``{role, hash, created_at, updated_at}``
                                  (argon2id hash; `app.access.accounts`).
- ``cc:signin:fail:user:<name>``  hash ``{count, last_at}`` of failed sign-ins of one account
                                  (expires SIGNIN_FAILURE_WINDOW_S after the last failure).
- ``cc:signin:fail:addr:<ip>``    the same per client address.
- ``cc:signin:fail:*`` also hold ``throttled`` (refused tries of the current burst, audited once).
- ``cc:session:<sha256 of token>`` hash, one signed-in browser session (`app.store.sessions`).
- ``cc:sessions:<name>``          set, the session digests of one person (the per-person index).
- ``cc:session:handoff:<sha256>`` string, a session token waiting to be set as an HttpOnly cookie
                                  by the console's own route (60 s, taken once).

HTTP API tokens (`app.store.api_tokens`):

- ``cc:apitokens``                hash, token id -> JSON ``{owner, role, created_at, expires_at,
                                  digest, created_by}`` (no expiry; an expired entry is dropped when
                                  listed).
- ``cc:apitoken:<sha256>``        string, the token id of the token whose SHA-256 (hex) is <sha256>;
                                  expires with the token.
- ``cc:apirate:<subject>:<n>``    integer, requests of one token or account in fixed window <n>
                                  (epoch seconds // window); expires after two windows.

Workers (written by `app.telemetry.heartbeat` and the event ingester, read through `app.store.workers`):

- ``cc:workers``              sorted set, hostname scored by its last heartbeat (epoch seconds).
- ``cc:worker:<host>``        hash, the worker's latest self-report.
- ``cc:evworkers``            sorted set, hostname scored by its last Celery event (epoch seconds;
                              0 after worker-offline), written by the event ingester.
- ``cc:evworker:<host>``      hash, the worker as its events describe it (`app.monitor.event_workers`).
- ``cc:queues:seen``          sorted set, queue names seen in task-sent events or active_queues
                              replies, scored by when last seen (`app.store.queues_seen`); the
                              console's own app. ``cc:queues:seen:<app>``: the same for another
                              monitored app (`app.monitor.apps`).
- ``cc:ingest:<app>``         hash, that app's event ingester progress ``{at, event_ts, events}``
                              (expires 5 min after its last report; `app.store.ingest`).
- ``cc:qheads``               hash, ``<app>|<queue>`` -> JSON ``{id, since, ready}``: the message at
                              the head of a queue and when the console first saw it there (a lower
                              bound of its age when no publish time is known; `app.store.queue_heads`).

Email (written and read through `app.store.mail`):

- ``cc:mail:sent:<task id>``      hash, recipient address -> Message-ID of every message that task
                                  delivered; a retry or redelivery skips them (TTL MAIL_SENT_TTL_S).
- ``cc:mail:cancelled:<task id>`` string, set when the operator cancels a scheduled send (TTL
                                  MAIL_SENT_TTL_S); the task drops the send if it still runs.
- ``cc:mail:claim:<id>:<rcpt>``   string, token of the run holding the "sending" lease (PX
                                  EMAIL_CLAIM_LEASE_S, renewed while it sends).
- ``cc:mail:started:<task id>``   hash, recipient -> epoch s a run began the SMTP transaction
                                  (TTL MAIL_SENT_TTL_S); with no sent record it means "may have been sent".

Redelivery guards (through `app.store.deliveries` and `app.store.answers`):

- ``cc:deliveries:<task id>``     hash, attempt (retries) -> deliveries of that attempt (TTL 2 days).
- ``cc:ai:answer:<task id>``      string, JSON answer of an AI task's provider call (TTL 2 days).

Maintenance and beat (through `app.store.locks`, `app.store.queue_history`, `app.store.history`
and `app.store.beat`):

- ``cc:lock:<name>``              string, redis-py Lock token of a running maintenance task (expires).
- ``cc:qdepth:<queue>``           sorted set, ``"<epoch s>:<ready>:<latency s or empty>"`` scored by
                                  epoch seconds, one point per monitor_queue_sizes run (trimmed to
                                  QUEUE_DEPTH_RETENTION_S); latency = age of the oldest waiting message.
- ``cc:qstuck``                   hash, queue -> JSON ``{since, ready}`` while it has messages and no
                                  consumer; the field is removed once a consumer is back or it drains.
- ``cc:beat:seeded``              set, default schedule entry names already installed once.
- ``cc:failed:cleaned_until``     string, epoch seconds up to which failed tasks' leftovers are removed.

RedBeat's own keys (prefix ``redbeat:``): ``redbeat:<entry name>`` (hash: definition, meta),
``redbeat::schedule`` (sorted set by due time), ``redbeat::lock`` (the single-beat lock),
``redbeat::statics``.

Celery's result records (written by Celery, read by `app.store.results`): ``celery-task-meta-<id>``
(string, JSON meta; expires after the app's ``result_expires``).

Celery/kombu's own keys read by `app.monitor.brokers.redis_lists`: the queue lists (``<queue>`` and its
priority lists ``<queue>\\x06\\x16<n>``), ``unacked`` and ``unacked_index``.
"""
from __future__ import annotations

PREFIX = "cc:"

TASKS_ALL = f"{PREFIX}idx:all"
TASK_NAMES = f"{PREFIX}names"
WORKERS = f"{PREFIX}workers"

#: kombu's Redis transport: separator and default priority steps (kombu.transport.redis).
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"

COUNTER_TTL_S = 2 * 86_400


AUDIT_LOG = f"{PREFIX}audit:log"
USERS = f"{PREFIX}users"
#: hash, task name -> rate limit an operator set from the console (e.g. "10/m"); "" when cleared.
RATE_LIMITS = f"{PREFIX}ratelimits"


def session(token_sha256: str) -> str:
    """A browser session, by the SHA-256 (hex) of its cookie token."""
    return f"{PREFIX}session:{token_sha256}"


def person_sessions(name: str) -> str:
    """The set of session digests (SHA-256 hex of the tokens) of one person."""
    return f"{PREFIX}sessions:{name}"


def session_handoff(code_sha256: str) -> str:
    """A one-time code (by its SHA-256) that the cookie route exchanges for a session token."""
    return f"{PREFIX}session:handoff:{code_sha256}"


API_TOKENS = f"{PREFIX}apitokens"
API_RATE_PREFIX = f"{PREFIX}apirate:"


def api_token(digest: str) -> str:
    """String: the id of the API token whose SHA-256 (hex) is `digest`."""
    return f"{PREFIX}apitoken:{digest}"


def api_rate(subject: str, window: int) -> str:
    """Integer: requests of `subject` (a token id or ``basic:<name>``) in fixed window `window`."""
    return f"{API_RATE_PREFIX}{subject}:{window}"


def signin_failures(kind: str, value: str) -> str:
    """Failed sign-in counter of one account (`kind` "user") or client address ("addr")."""
    return f"{PREFIX}signin:fail:{kind}:{value}"



def children(task_id: str) -> str:
    return f"{PREFIX}children:{task_id}"


def word_index(token: str) -> str:
    return f"{PREFIX}idx:word:{token}"


def runtime_histogram(name: str) -> str:
    return f"{PREFIX}hist:{name}"


def worker_counts(hostname: str) -> str:
    return f"{PREFIX}wcount:{hostname}"


def task(task_id: str) -> str:
    return f"{PREFIX}task:{task_id}"


def state_index(state: str) -> str:
    return f"{PREFIX}idx:state:{state}"


def name_index(name: str) -> str:
    return f"{PREFIX}idx:name:{name}"


def worker(hostname: str) -> str:
    return f"{PREFIX}worker:{hostname}"


def counter(state: str, minute: str) -> str:
    """Per-minute counter; `minute` is UTC ``YYYYmmddHHMM``."""
    return f"{PREFIX}count:{state}:{minute}"


def priority_lists(queue: str, steps: tuple[int, ...] = PRIORITY_STEPS) -> list[str]:
    """The Redis lists holding `queue`'s ready messages, one per priority step.

    Step 0 is the bare queue name; the others are ``queue + "\\x06\\x16" + str(step)``
    (kombu.transport.redis.MultiChannelPoller / Channel._q_for_pri).
    """
    return [queue if step == 0 else f"{queue}{PRIORITY_SEP}{step}" for step in steps]


#: How long the email idempotency records live (covers every retry and any ETA below the visibility
#: timeout of 12 h, with margin).
MAIL_SENT_TTL_S = 2 * 86_400


def mail_sent(task_id: str) -> str:
    return f"{PREFIX}mail:sent:{task_id}"


def mail_claim(task_id: str, recipient: str) -> str:
    """String: the token of the run sending `task_id`'s message to `recipient` (a lease)."""
    return f"{PREFIX}mail:claim:{task_id}:{recipient}"


def mail_started(task_id: str) -> str:
    """Hash: recipient -> time a run began its SMTP transaction (tells a claim left by a dead attempt)."""
    return f"{PREFIX}mail:started:{task_id}"


def deliveries(task_id: str) -> str:
    """Hash: attempt number (retries) -> deliveries of that attempt to a worker (capped redelivery)."""
    return f"{PREFIX}deliveries:{task_id}"


def ai_answer(task_id: str) -> str:
    """String: the JSON answer an AI task already paid for (reused by a redelivery)."""
    return f"{PREFIX}ai:answer:{task_id}"


def mail_cancelled(task_id: str) -> str:
    return f"{PREFIX}mail:cancelled:{task_id}"


#: Maintenance and beat.
QUEUE_STUCK = f"{PREFIX}qstuck"
BEAT_SEEDED = f"{PREFIX}beat:seeded"
FAILED_CLEANED_UNTIL = f"{PREFIX}failed:cleaned_until"


def lock(name: str) -> str:
    return f"{PREFIX}lock:{name}"


def queue_depth(queue: str) -> str:
    return f"{PREFIX}qdepth:{queue}"


# ---- Alerts, schedule health, failure groups, queue pause ---------------------------------------
# - ``cc:alert:rules``            hash, rule id -> JSON rule (`app.store.alerts`).
# - ``cc:alert:state``            hash, rule id -> JSON evaluation state (firing, subjects, since).
# - ``cc:alert:events``           sorted set, alert event id scored by epoch seconds (newest kept,
#                                 ALERT_HISTORY_MAX); ``cc:alert:event:<id>`` hash, one event.
# - ``cc:alert:seeded``           string, set once the default rules were installed.
# - ``cc:rate:<YYYYmmddHHMM>``    hash, finished tasks in that UTC minute: ``T|n|<name>`` /
#                                 ``F|n|<name>`` (all / failed by task name), ``T|q|<queue>`` /
#                                 ``F|q|<queue>`` (by queue) (TTL COUNTER_TTL_S).
# - ``cc:sched:last``             hash, schedule entry name -> id of the last task beat sent for it.
# - ``cc:sched:prev``             hash, schedule entry name -> id of the task beat sent before the last
#                                 (its result stands while the newest run has not finished).
# - ``cc:sched:pending``          hash, schedule entry name -> epoch s of the oldest send of it that
#                                 has not started yet (removed when a run of it starts).
# - ``cc:fgroups``                sorted set, failure fingerprint scored by last-seen epoch seconds.
# - ``cc:fgroup:<fp>``            hash, one failure group: name, exc_type, message (normalised),
#                                 count, first_at, last_at, last_id, ``q|<queue>`` / ``w|<worker>``
#                                 counts (TTL HISTORY_RETENTION_S, refreshed per failure).
# - ``cc:fgroup:ids:<fp>``        sorted set, failed task ids of the group by failure time.
# - ``cc:paused``                 hash, queue -> JSON ``{at, who, workers}`` while an operator paused
#                                 it (the console's own app); ``cc:paused:<app>`` for another app.
ALERT_RULES = f"{PREFIX}alert:rules"
ALERT_STATE = f"{PREFIX}alert:state"
ALERT_EVENTS = f"{PREFIX}alert:events"
ALERT_SEEDED = f"{PREFIX}alert:seeded"
#: string, epoch s of the last finished alert evaluation.
ALERT_EVALUATED = f"{PREFIX}alert:evaluated"
SCHEDULE_LAST_TASK = f"{PREFIX}sched:last"
SCHEDULE_PENDING = f"{PREFIX}sched:pending"
SCHEDULE_PREVIOUS_TASK = f"{PREFIX}sched:prev"
FAILURE_GROUPS = f"{PREFIX}fgroups"
PAUSED_QUEUES = f"{PREFIX}paused"


def alert_event(event_id: str) -> str:
    return f"{PREFIX}alert:event:{event_id}"


def rate_counts(minute: str) -> str:
    """Per-minute finished/failed counts by task name and queue; `minute` is UTC ``YYYYmmddHHMM``."""
    return f"{PREFIX}rate:{minute}"


def failure_group(fingerprint: str) -> str:
    return f"{PREFIX}fgroup:{fingerprint}"


def failure_group_ids(fingerprint: str) -> str:
    return f"{PREFIX}fgroup:ids:{fingerprint}"


#: Celery-event ingester (`app.monitor.events`, through `app.store.workers` and
#: `app.store.queues_seen`): workers known from event heartbeats and
#: queue names seen in events or active_queues replies.
EVENT_WORKERS = f"{PREFIX}evworkers"
QUEUES_SEEN = f"{PREFIX}queues:seen"


#: Celery's result key prefix in a Redis result backend (celery.backends.base.KeyValueStoreBackend).
RESULT_META_PREFIX = "celery-task-meta-"


def result_meta(task_id: str) -> str:
    """String: Celery's stored result (JSON meta) of `task_id`."""
    return f"{RESULT_META_PREFIX}{task_id}"


def queues_seen(app: str | None = None) -> str:
    """Sorted set of queue names seen for monitored app `app` (None or "console": the console's)."""
    return QUEUES_SEEN if not app or app == "console" else f"{QUEUES_SEEN}:{app}"


def paused_queues(app: str | None = None) -> str:
    """Hash of paused queues of monitored app `app` (None or "console": the console's own)."""
    return PAUSED_QUEUES if not app or app == "console" else f"{PAUSED_QUEUES}:{app}"


QUEUE_HEADS = f"{PREFIX}qheads"


def ingest(app: str) -> str:
    """Hash, an event ingester's progress for monitored app `app` (`app.store.ingest`)."""
    return f"{PREFIX}ingest:{app}"


def event_worker(hostname: str) -> str:
    """Hash, a worker's latest event heartbeat (fields in `app.monitor.event_workers`)."""
    return f"{PREFIX}evworker:{hostname}"


#: Saved workflows (`app.store.workflows`): definitions by name, and each one's recent runs.
WORKFLOWS = f"{PREFIX}workflows"


def workflow_runs(name: str) -> str:
    """List, JSON runs of the saved workflow `name`, newest first."""
    return f"{PREFIX}workflow:runs:{name}"
