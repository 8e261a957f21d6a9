"""Recurring reports: beat entries (RedBeat, via `app.schedules`) that run a report task.

An entry's task is one of `REPORT_TASKS` under ``app.tasks.report_tasks.``; its kwargs are the
report task's kwargs (data by stored file path, never rows). The entry is checked before it is
saved (report type, formats, period, the stored file) so a bad schedule fails now, not at 3 a.m.
"""
from __future__ import annotations

from typing import Any

from app.errors import InvalidInput
from app import schedules
from app.reports import analysis, export, performance, rendering

TASK_PREFIX = "app.tasks.report_tasks."
REPORT_TASKS = ("generate_analytics_report", "generate_summary_report", "export_data",
                "generate_task_performance_report")


def check_kwargs(report_task: str, kwargs: dict[str, Any], resolve_path) -> None:
    """Validate the kwargs a recurring run will get.

    Raises:
        InvalidInput: unknown report task, bad report type / format / period, inline records
            (a schedule must reference a stored file), or a missing stored file.
    """
    if report_task not in REPORT_TASKS:
        raise InvalidInput(f"Unknown report task {report_task!r}; use one of {', '.join(REPORT_TASKS)}.")
    if report_task == "generate_task_performance_report":
        performance.parse_period(kwargs.get("period", "24h"))
        rendering.parse_formats(kwargs.get("format", "html"))
        return
    data = kwargs.get("data")
    path = data.get("file_path") if isinstance(data, dict) else None
    if not path:
        raise InvalidInput("A recurring report must read a stored file: data={'file_path': ...}.")
    resolve_path(path)
    if report_task == "export_data":
        rendering.parse_formats(kwargs.get("format", "csv"), export.EXPORT_FORMATS)
        return
    if kwargs.get("report_type", "summary") not in analysis.REPORT_TYPES:
        raise InvalidInput(f"Unknown report type {kwargs.get('report_type')!r}; use one of "
                           f"{', '.join(analysis.REPORT_TYPES)}.")
    rendering.parse_formats(kwargs.get("format", "html"))


def schedule_report(app, name: str, report_task: str, schedule: dict[str, Any], kwargs: dict[str, Any],
                    resolve_path, enabled: bool = True) -> schedules.EntryInfo:
    """Create or replace the beat entry `name` running `report_task` with `kwargs` on `schedule`
    (the dict form of `app.schedules`, e.g. ``{'type': 'interval', 'every_s': 3600}``).

    Raises:
        InvalidInput: see `check_kwargs` and `schedules.save_entry`.
    """
    check_kwargs(report_task, kwargs, resolve_path)
    return schedules.save_entry(app, name, TASK_PREFIX + report_task, schedule, kwargs=kwargs,
                                enabled=enabled)


def report_entries(app) -> list[schedules.EntryInfo]:
    """The beat entries that run a report task, sorted by name."""
    return [e for e in schedules.list_entries(app) if e.task.startswith(TASK_PREFIX)]
