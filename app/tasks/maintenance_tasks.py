"""Maintenance tasks on default_queue, run by beat (`config.celery_settings.DEFAULT_SCHEDULE`).

Each one is idempotent and takes a Redis lock with an expiry (its hard time limit) before working
(so two runs never overlap): a run that finds the lock held returns
``{'status': 'skipped', 'reason': ...}`` and logs why. Redis connection errors are retried twice.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from types import MappingProxyType

from celery import shared_task
from redbeat.schedulers import ensure_conf

from app.errors import BrokerUnavailable
from app.monitor import app_queues, brokers
from app.monitor.apps import MonitoredApps
from app.monitor import health, workers
from app.store import queue_history
from app.store.clients import StoreConnectionError, StoreTimeoutError, redis_from_url
from app.maintenance import cleanup
from app import maintenance
from app.store import locks
from app.tasks.base import ConsoleTask
from config.celery_settings import QUEUES
from config.settings import get_settings

log = logging.getLogger(__name__)

MAINTENANCE_OPTIONS = MappingProxyType(dict(base=ConsoleTask, bind=True, autoretry_for=(StoreConnectionError, StoreTimeoutError, BrokerUnavailable),
                                            max_retries=2, default_retry_delay=30))


def _exclusive(task, work: Callable[[object], dict]) -> dict:
    """Run ``work(client)`` holding the task's lock; a run that finds it held is skipped."""
    name = task.name.rsplit(".", 1)[-1]
    with redis_from_url(get_settings().result_backend) as client:
        with locks.exclusive(client, name, ttl_s=task.time_limit or 600) as acquired:
            if not acquired:
                left = locks.holder_ttl_s(client, name)
                reason = f"another {name} run holds the lock ({left or 0:.0f} s left on it)"
                log.info("%s skipped: %s", name, reason)
                return {"status": "skipped", "reason": reason}
            return {"status": "completed", **work(client)}


def _result_key(app, task_id: str) -> str:
    key = app.backend.get_key_for_task(task_id)
    return key.decode() if isinstance(key, bytes) else key


@shared_task(**MAINTENANCE_OPTIONS, soft_time_limit=30, time_limit=60)
def health_check(self) -> dict:
    """Redis ping, workers and consumers per queue, beat alive, free disk, SMTP/AI configured.

    Returns ``{'status': 'healthy'|'degraded'|'unhealthy', 'checks': {redis, workers, queues, disk,
    beat, smtp, ai}, 'problems': [...], 'notes': [...]}``. A missing beat is a problem (degraded);
    SMTP/AI not configured are notes (those features are optional). Secrets never appear.
    """
    s = get_settings()
    with redis_from_url(s.result_backend) as client:
        report = health.check(client, QUEUES, s.DATA_DIR, s.WORKER_OFFLINE_AFTER_S)
        notes: list[str] = []
        if report["checks"]["redis"]["ok"]:
            beat = maintenance.beat_status(client, ensure_conf(self.app).lock_key)
            report["checks"]["beat"] = beat
            if not beat["ok"]:
                report["problems"].append("beat is not running: scheduled tasks are not being sent")
        features = maintenance.features_configured(s)
        report["checks"].update(features)
        if not features["smtp"]["configured"]:
            notes.append("SMTP_HOST is not set: mail goes to the development sink")
        if not any(features["ai"].values()):
            notes.append("no AI API key is set (ANTHROPIC_API_KEY / OPENAI_API_KEY)")
        report["notes"] = notes
        if report["status"] == "healthy" and report["problems"]:
            report["status"] = "degraded"
    return report


@shared_task(**MAINTENANCE_OPTIONS, soft_time_limit=600, time_limit=660)
def cleanup_old_results(self, older_than_s: float | None = None) -> dict:
    """Remove tasks (history entry and Celery result) first seen more than `older_than_s` seconds
    ago (default HISTORY_RETENTION_S), and beyond the newest HISTORY_MAX_TASKS.

    Returns ``{'status': 'completed', 'removed', 'results_removed'}`` or ``{'status': 'skipped', ...}``.
    """
    s = get_settings()
    retention_s = s.HISTORY_RETENTION_S if older_than_s is None else float(older_than_s)
    return _exclusive(self, lambda c: maintenance.cleanup_old_results(
        c, retention_s, s.HISTORY_MAX_TASKS, functools.partial(_result_key, self.app)))


@shared_task(**MAINTENANCE_OPTIONS, soft_time_limit=600, time_limit=660)
def cleanup_failed_tasks(self, older_than_s: float | None = None) -> dict:
    """Remove partial outputs and Celery results of tasks that failed more than `older_than_s`
    seconds ago (default FAILED_TASK_RETENTION_S); the history entry stays for the monitor.

    Returns ``{'status': 'completed', 'examined', 'outputs_removed', 'bytes_freed', 'results_removed'}``.
    """
    s = get_settings()
    age_s = s.FAILED_TASK_RETENTION_S if older_than_s is None else float(older_than_s)
    result_key = functools.partial(_result_key, self.app)
    return _exclusive(self, lambda c: maintenance.cleanup_failed_tasks(c, s.DATA_DIR, age_s, result_key))


@shared_task(**MAINTENANCE_OPTIONS, soft_time_limit=1500, time_limit=1560)
def archive_old_files(self, older_than_s: float | None = None) -> dict:
    """Move output folders untouched for `older_than_s` seconds (default OUTPUT_RETENTION_S) into
    ``DATA_DIR/archive/outputs/<job>.tar.gz``, sparing outputs of unfinished tasks.

    cleanup_temp_files deletes outputs after FILE_RETENTION_S (1 day), so OUTPUT_RETENTION_S
    (12 h) must stay below it for archiving to see them.

    Returns ``{'status': 'completed', 'archived': [job names], 'files', 'bytes_archived', 'kept'}``.
    """
    s = get_settings()
    age_s = s.OUTPUT_RETENTION_S if older_than_s is None else float(older_than_s)
    return _exclusive(self, lambda c: maintenance.archive_old_outputs(
        s.DATA_DIR, age_s, protected=cleanup.active_references(c)))


@shared_task(**MAINTENANCE_OPTIONS, soft_time_limit=30, time_limit=60)
def monitor_queue_sizes(self) -> dict:
    """Record each queue's ready count for the monitor's charts (kept QUEUE_DEPTH_RETENTION_S) and
    flag queues with messages but no online consumer (logged as a warning).

    Returns ``{'status': 'completed', 'ready': {queue: n}, 'unacked': n, 'latency_s': {queue: s or
    None}, 'stuck': [queues]}``.
    """
    s = get_settings()

    def work(client) -> dict:
        consumers = workers.consumers_by_queue(workers.list_workers(client, s.WORKER_OFFLINE_AFTER_S))
        broker = brokers.for_settings(s)
        try:
            depth = broker.depths(QUEUES)
            detail = {d.name: d for d in broker.details(QUEUES, consumers)}
        finally:
            broker.close()
        latency = {q: detail[q].latency_s for q in QUEUES}
        stuck = queue_history.record(client, depth.ready, consumers, s.QUEUE_DEPTH_RETENTION_S,
                                     latency_s=latency)
        for q in stuck:
            log.warning("queue %s has %d messages and no consumer: start a worker with -Q %s",
                        q, depth.ready[q], q)
        stuck += app_queues.record_history(client, MonitoredApps.from_settings(s, self.app, QUEUES),
                                           workers.list_workers(client, s.WORKER_OFFLINE_AFTER_S),
                                           s.QUEUE_DEPTH_RETENTION_S)  # every other monitored app
        return {"ready": depth.ready, "unacked": depth.unacked, "latency_s": latency, "stuck": stuck}

    return _exclusive(self, work)
