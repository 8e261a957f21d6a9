"""Maintenance tasks (seed 003) on default_queue: health_check, cleanup_old_results."""
from __future__ import annotations

from app.monitor import health, history
from app.monitor.clients import redis_from_url
from app.tasks.base import ConsoleTask
from config.celery_config import QUEUES, celery_app
from config.settings import get_settings


@celery_app.task(base=ConsoleTask, bind=True, soft_time_limit=30, time_limit=60)
def health_check(self) -> dict:
    """Redis ping, workers online and consumers per queue, free disk under DATA_DIR.

    Returns ``{'status': 'healthy'|'degraded'|'unhealthy', 'checks': {...}, 'problems': [...]}``.
    """
    s = get_settings()
    return health.check(redis_from_url(s.result_backend), QUEUES, s.DATA_DIR, s.WORKER_OFFLINE_AFTER_S)


@celery_app.task(base=ConsoleTask, bind=True, soft_time_limit=600, time_limit=660)
def cleanup_old_results(self) -> dict:
    """Trim the task history past HISTORY_RETENTION_S / HISTORY_MAX_TASKS. Returns ``{'removed': n}``.

    Celery's own result keys expire by themselves (result_expires).
    """
    s = get_settings()
    removed = history.trim(redis_from_url(s.result_backend), s.HISTORY_RETENTION_S, s.HISTORY_MAX_TASKS)
    return {"status": "completed", "removed": removed}
