"""Report tasks on reports_queue: max 2 retries, 30 s countdown.

Data is referenced by stored file (``data={'file_path': '<path under DATA_DIR, or a storage URL /
key with FILE_STORE=s3>'}``: downloaded into the task's workspace, outputs uploaded and returned as
storage URLs; `app.files.filestore`); small inline
``data={'records': [...]}`` is accepted too (at most REPORT_MAX_INLINE_RECORDS). Every report task
returns ``{'status': 'completed', 'outputs': {'<format>_file': path, ...}, 'summary': {...}}``
(e.g. ``result['outputs']['html_file']``). Bad input raises InvalidInput (never retried);
OSError, Redis connection errors and an unreachable AI provider are retried after 30 s.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

from celery import shared_task

from app.errors import InvalidInput, ServiceUnavailable
from app.store.clients import StoreConnectionError, redis_from_url
from app.files import filestore, storage
from app.reports import analysis, content, executive, export, performance, rendering
from app.reports import loading, recurring
from app.tasks.base import ConsoleTask
from config.settings import get_settings

REPORT_TASK_OPTIONS = MappingProxyType(dict(base=ConsoleTask, bind=True, max_retries=2, default_retry_delay=30,
                                            autoretry_for=(OSError, StoreConnectionError, ServiceUnavailable),
                                            retry_backoff=False, soft_time_limit=600, time_limit=660))


def _resolve(path: str):
    return storage.existing_file(get_settings().DATA_DIR, path)


def _load(data: Any, files):
    s = get_settings()
    return loading.load(data, lambda p: _resolve(files.local(p)), s.REPORT_MAX_INLINE_RECORDS, s.REPORT_MAX_ROWS)


def _options(report_type: str, group_by: str | None, date_column: str | None,
             value_columns: list[str] | None, title: str | None) -> analysis.ReportOptions:
    return analysis.ReportOptions(report_type=report_type, group_by=group_by or None,
                                  date_column=date_column or None,
                                  value_columns=tuple(value_columns or ()), title=title or None)


def _out_dir(files) -> Any:
    return files.output_dir()


@shared_task(**REPORT_TASK_OPTIONS)
def generate_analytics_report(self, data: dict | None = None, report_type: str = "summary",
                              format: str | list[str] = "html", group_by: str | None = None,
                              date_column: str | None = None, value_columns: list[str] | None = None,
                              title: str | None = None) -> dict:
    """Analytics report of `data` as one or more of html, xlsx, docx, pdf, json ('html,pdf' or a list).

    `report_type` is summary, detailed or trend (see `app.reports.analysis`).
    Returns ``{'status', 'report_type', 'outputs': {'html_file', ...}, 'summary': {rows, columns,
    numeric_columns, totals, means, ...}}``.
    """
    formats = rendering.parse_formats(format)
    with filestore.task_files(self.request.id) as files:
        a = analysis.analyse(_load(data, files), _options(report_type, group_by, date_column, value_columns, title))
        self.report_progress(1, len(formats) + 1, "statistics computed")
        doc = content.analytics_document(a, get_settings().REPORT_TABLE_ROWS_MAX)
        outputs = rendering.render_all(doc, formats, _out_dir(files), rendering.file_stem(a.title),
                                       on_step=lambda i, n, m: self.report_progress(i + 1, n + 1, m))
        return {"status": "completed", "report_type": report_type, "outputs": files.publish(outputs),
                "summary": a.summary}


@shared_task(**REPORT_TASK_OPTIONS)
def generate_summary_report(self, data: dict | None = None, report_type: str = "summary",
                            format: str | list[str] = "html", group_by: str | None = None,
                            date_column: str | None = None, value_columns: list[str] | None = None,
                            title: str | None = None, provider: str | None = None) -> dict:
    """The analytics report with an AI-written executive summary first (`provider`: anthropic/openai,
    default REPORT_AI_PROVIDER). Without an API key the report is still produced; its summary
    section says why, and ``summary['executive_summary']`` is ``{'status': 'missing', 'reason'}``.
    """
    s = get_settings()
    formats = rendering.parse_formats(format)
    with filestore.task_files(self.request.id) as files:
        a = analysis.analyse(_load(data, files), _options(report_type, group_by, date_column, value_columns,
                                                          title or "Summary report"))
        self.report_progress(1, len(formats) + 2, "statistics computed; asking the AI for a summary")
        section, status = executive.executive_section(a, provider or s.REPORT_AI_PROVIDER,
                                                      degrade=self.request.retries >= self.max_retries)
        self.report_progress(2, len(formats) + 2, f"executive summary {status['status']}")
        doc = content.analytics_document(a, s.REPORT_TABLE_ROWS_MAX, executive=section)
        outputs = rendering.render_all(doc, formats, _out_dir(files), rendering.file_stem(a.title),
                                       on_step=lambda i, n, m: self.report_progress(i + 2, n + 2, m))
        summary = dict(a.summary, executive_summary=status)
        return {"status": "completed", "report_type": report_type, "outputs": files.publish(outputs),
                "summary": summary}


@shared_task(**REPORT_TASK_OPTIONS)
def export_data(self, data: dict | None = None, format: str = "csv", name: str | None = None) -> dict:
    """Export `data` to csv, xlsx, json or xml, in chunks of EXPORT_CHUNK_ROWS rows with progress.

    Returns ``{'status', 'outputs': {'<format>_file': path}, 'summary': {rows, columns, format}}``.
    """
    s = get_settings()
    fmt = rendering.parse_formats(format, export.EXPORT_FORMATS)
    if len(fmt) != 1:
        raise InvalidInput("export_data writes one format per task; send one task per format.")
    with filestore.task_files(self.request.id) as files:
        path = _out_dir(files) / f"{rendering.file_stem(name or 'export')}.{fmt[0]}"
        summary = export.export(data, fmt[0], path, resolve_path=lambda p: _resolve(files.local(p)),
                                max_records=s.REPORT_MAX_INLINE_RECORDS, max_rows=s.REPORT_MAX_ROWS,
                                chunk_rows=s.EXPORT_CHUNK_ROWS, on_step=self.report_progress)
        return {"status": "completed", "outputs": files.publish({f"{fmt[0]}_file": str(path)}), "summary": summary}


@shared_task(**REPORT_TASK_OPTIONS)
def generate_task_performance_report(self, period: str | int = "24h", format: str | list[str] = "html") -> dict:
    """Per task name and per queue performance over the last `period` ('1h', '24h', '7d', seconds),
    from the task history in Redis. Returns ``{'status', 'outputs', 'summary': {tasks, finished,
    succeeded, failed, success_rate_pct, ...}}``.
    """
    formats = rendering.parse_formats(format)
    client = redis_from_url(get_settings().result_backend)
    try:
        doc = performance.performance_document(client, period)
    finally:
        client.close()
    self.report_progress(1, len(formats) + 1, f"{doc.summary['tasks']} tasks read")
    with filestore.task_files(self.request.id) as files:
        outputs = rendering.render_all(doc, formats, _out_dir(files), "task_performance",
                                       on_step=lambda i, n, m: self.report_progress(i + 1, n + 1, m))
        return {"status": "completed", "outputs": files.publish(outputs), "summary": doc.summary}


@shared_task(**REPORT_TASK_OPTIONS)
def schedule_recurring_report(self, name: str, report_task: str, schedule: dict,
                              report_kwargs: dict | None = None, enabled: bool = True) -> dict:
    """Create (or replace) a persistent beat entry `name` that runs `report_task` (one of
    generate_analytics_report, generate_summary_report, export_data,
    generate_task_performance_report) with `report_kwargs` on `schedule`
    (``{'type': 'interval', 'every_s': 3600}`` or ``{'type': 'crontab', 'minute': '0', 'hour': '7'}``).

    Returns ``{'status': 'scheduled', 'name', 'task', 'schedule', 'description', 'enabled',
    'next_run_at'}`` (next_run_at ISO 8601 UTC or None).
    """
    with filestore.task_files(None) as files:
        entry = recurring.schedule_report(self.app, name, report_task, schedule, dict(report_kwargs or {}),
                                          lambda p: _resolve(files.local(p)), enabled=enabled)
    return {"status": "scheduled", "name": entry.name, "task": entry.task, "schedule": entry.schedule,
            "description": entry.description, "enabled": entry.enabled,
            "next_run_at": entry.next_run_at.isoformat() if entry.next_run_at else None}
