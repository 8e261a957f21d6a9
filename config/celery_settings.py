"""The console's Celery configuration as data: queues, task modules, routes, the default beat
schedule and `celery_conf` (the app's settings for given `config.settings.Settings`).

Nothing here imports the application; `app.runtime` builds the Celery app from it.

Fixed names: queues email_queue, file_processing_queue, ai_queue, reports_queue, default_queue;
routes by task module. The settings: JSON only; acks_late with reject_on_worker_lost (a task whose
worker dies is delivered again); prefetch 1 (long tasks); a visibility timeout longer than any task
or ETA, the same for broker and result backend (a message unacked for longer is delivered again);
track_started, result_extended and result_expires; events on, so Flower and ``celery events`` work
against the console's workers.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

from kombu import Exchange, Queue

from config.settings import Settings

QUEUES = ("email_queue", "file_processing_queue", "ai_queue", "reports_queue", "default_queue")

TASK_MODULES = (
    "app.tasks.email_tasks",
    "app.tasks.file_tasks",
    "app.tasks.ai_tasks",
    "app.tasks.report_tasks",
    "app.tasks.maintenance_tasks",
    "app.tasks.alert_tasks",
    "app.tasks.workflow_tasks",
)

ROUTES = MappingProxyType({
    "app.tasks.email_tasks.*": MappingProxyType({"queue": "email_queue"}),
    "app.tasks.file_tasks.*": MappingProxyType({"queue": "file_processing_queue"}),
    "app.tasks.ai_tasks.*": MappingProxyType({"queue": "ai_queue"}),
    "app.tasks.report_tasks.*": MappingProxyType({"queue": "reports_queue"}),
    "app.tasks.maintenance_tasks.*": MappingProxyType({"queue": "default_queue"}),
    "app.tasks.alert_tasks.*": MappingProxyType({"queue": "default_queue"}),
    "app.tasks.workflow_tasks.*": MappingProxyType({"queue": "default_queue"}),
})

#: RedBeat entry of the alert evaluation: its interval is ALERT_EVAL_INTERVAL_S (`default_schedule`),
#: kept in step with the setting at each beat start.
ALERT_EVAL_ENTRY = "evaluate-alerts"

#: The default schedule, installed once into Redis when beat starts and the operator's to edit,
#: disable or delete afterwards (`app.schedules.seed_defaults`). Crontab fields are read in
#: TIMEZONE. The last two maintenance entries ship disabled: enable them on the Schedules page.
#: The alert evaluation's interval shown here is the setting's default (`default_schedule` sets it).
DEFAULT_SCHEDULE = MappingProxyType({
    "cleanup-temp-files": {"task": "app.tasks.file_tasks.cleanup_temp_files",
                           "schedule": {"type": "crontab", "minute": "0", "hour": "*"}},
    "cleanup-old-results": {"task": "app.tasks.maintenance_tasks.cleanup_old_results",
                            "schedule": {"type": "crontab", "minute": "0", "hour": "3"}},
    "health-check": {"task": "app.tasks.maintenance_tasks.health_check",
                     "schedule": {"type": "interval", "every_s": 300}},
    "monitor-queue-sizes": {"task": "app.tasks.maintenance_tasks.monitor_queue_sizes",
                            "schedule": {"type": "interval", "every_s": 60}},
    "cleanup-failed-tasks": {"task": "app.tasks.maintenance_tasks.cleanup_failed_tasks",
                             "schedule": {"type": "crontab", "minute": "15", "hour": "3"},
                             "enabled": False},
    "archive-old-files": {"task": "app.tasks.maintenance_tasks.archive_old_files",
                          "schedule": {"type": "crontab", "minute": "30", "hour": "*"},
                          "enabled": False},
    ALERT_EVAL_ENTRY: {"task": "app.tasks.alert_tasks.evaluate_alerts",
                       "schedule": {"type": "interval", "every_s": Settings.model_fields["ALERT_EVAL_INTERVAL_S"].default}},
})


def default_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """`DEFAULT_SCHEDULE` as a new dict, the alert evaluation every ALERT_EVAL_INTERVAL_S."""
    out = {name: dict(spec) for name, spec in DEFAULT_SCHEDULE.items()}
    out[ALERT_EVAL_ENTRY]["schedule"] = {"type": "interval", "every_s": settings.ALERT_EVAL_INTERVAL_S}
    return out


def celery_conf(settings: Settings) -> dict[str, Any]:
    """The console app's Celery settings (a new dict, for ``app.conf.update``)."""
    exchange = Exchange("tasks", type="direct")
    transport = {"visibility_timeout": settings.VISIBILITY_TIMEOUT_S}
    return dict(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        timezone=settings.TIMEZONE,
        enable_utc=True,
        # Every queue, declared here or created on demand (a consumer added at run time, a test
        # queue), gets the same x-max-priority: RabbitMQ refuses a redeclaration with other
        # arguments (PRECONDITION_FAILED). Redis ignores queue arguments and uses priority steps.
        task_queues=[Queue(q, exchange, routing_key=q, queue_arguments={"x-max-priority": settings.QUEUE_MAX_PRIORITY})
                     for q in QUEUES],
        task_queue_max_priority=settings.QUEUE_MAX_PRIORITY,
        task_default_queue="default_queue",
        task_default_exchange="tasks",
        task_default_routing_key="default_queue",
        task_routes={pattern: dict(route) for pattern, route in ROUTES.items()},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        task_time_limit=1800,
        task_soft_time_limit=1500,
        worker_prefetch_multiplier=1,
        worker_send_task_events=True,
        task_send_sent_event=True,
        result_extended=True,
        result_expires=settings.RESULT_EXPIRES_S,
        broker_transport_options=dict(transport),
        result_backend_transport_options=dict(transport),
        broker_connection_retry_on_startup=True,
        # Prints (and tracebacks written to stderr) go to the process log as they are, not through
        # Celery's stdout proxy, which turns every write() into a WARNING record (writelines() of a
        # string: one record per character), so one error stays one record.
        worker_redirect_stdouts=False,
        # RedBeat keeps the schedule in Redis; see DEFAULT_SCHEDULE.
        beat_scheduler="app.beat_scheduler.RetryingRedBeatScheduler",
        redbeat_redis_url=settings.result_backend,
        redbeat_redis_options={"socket_connect_timeout": 2.0, "socket_timeout": 5.0},
        redbeat_key_prefix="redbeat:",
        beat_max_loop_interval=settings.BEAT_MAX_LOOP_INTERVAL_S,
        # Empty on purpose: RedBeat rewrites every beat_schedule entry on each beat start (undoing the
        # operator's edits) and deletes it once it leaves the config. Defaults are seeded once instead.
        beat_schedule={},
        cc_worker_heartbeat_s=settings.WORKER_HEARTBEAT_S,
    )
