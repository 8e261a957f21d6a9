"""Which monitored apps (`app.monitor.apps`) an alert rule and an alert event concern, for the
Alerts page's app selector.

Queue rules name their subjects ``<app>:<queue>`` for another app's queues and the bare queue name
for the console's own (`app.alerts.checks.Context`), so a queue pattern tells its apps: "billing:*"
is app billing's, "email_queue" the console's, "*" every app's. A worker rule's subjects are node
names, each worker's app known from its record (`worker_apps`). Task-name and queue failure-rate
and runtime rules count every app's tasks of that name alike (the counters carry no app), so they
concern every app; schedule and Redis-memory rules are the console's own.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from app.alerts.rules import Rule

CONSOLE = "console"
QUEUE_KINDS = frozenset({"queue_depth", "queue_age", "no_consumer"})
CONSOLE_KINDS = frozenset({"schedule_missed", "redis_memory"})


def queue_subject_app(subject: str, app_names: Iterable[str]) -> str:
    """The app of a queue rule's subject: ``billing:invoices`` -> "billing" (when billing is
    monitored), a bare queue name -> "console"."""
    head, sep, _ = subject.partition(":")
    return head if sep and head in set(app_names) and head != CONSOLE else CONSOLE


def rule_apps(rule: Rule, app_names: Iterable[str], worker_apps: Mapping[str, str]) -> frozenset[str] | None:
    """The apps `rule` watches, None for every app (see the module docstring). `worker_apps` maps
    worker node names to their app."""
    names = [n for n in app_names if n != CONSOLE]
    p = rule.params
    if rule.kind in CONSOLE_KINDS:
        return frozenset({CONSOLE})
    if rule.kind in QUEUE_KINDS:
        pattern = str(p.get("queue") or "*")
        if ":" in pattern:
            head = pattern.split(":", 1)[0]
            return frozenset(n for n in names if fnmatchcase(n, head))
        if set(pattern) <= {"*"}:
            return None
        # a bare pattern: the console's queues, and another app's where the pattern spans the colon
        return frozenset({CONSOLE, *(n for n in names if fnmatchcase(f"{n}:", pattern[:len(n) + 1]))})
    if rule.kind == "worker_offline":
        pattern = str(p.get("worker") or "*")
        if set(pattern) <= {"*"}:
            return None
        return frozenset(a for host, a in worker_apps.items() if fnmatchcase(host, pattern)) or frozenset({CONSOLE})
    return None


def rule_concerns(rule: Rule, app: str | None, app_names: Iterable[str], worker_apps: Mapping[str, str]) -> bool:
    """True when `rule` watches app `app` (None: every app is chosen, always True)."""
    if app is None:
        return True
    apps = rule_apps(rule, app_names, worker_apps)
    return apps is None or app in apps


def event_apps(event: dict[str, Any], app_names: Iterable[str], worker_apps: Mapping[str, str]) -> frozenset[str] | None:
    """The apps of an alert event's subjects (queue and worker rules), None when its subjects do not
    tell (other kinds, a test alert without subjects)."""
    subjects = event.get("subjects")
    if not isinstance(subjects, dict) or not subjects:
        return None
    names = list(app_names)
    if event.get("kind") in QUEUE_KINDS:
        return frozenset(queue_subject_app(s, names) for s in subjects)
    if event.get("kind") == "worker_offline":
        return frozenset(worker_apps.get(s, CONSOLE) for s in subjects)
    return None


def events_of(events: list[dict[str, Any]], rules: Iterable[Rule], app: str | None, app_names: Iterable[str],
              worker_apps: Mapping[str, str]) -> list[dict[str, Any]]:
    """The events that concern app `app` (all of them for None): those whose subjects are that
    app's, else those of a rule that watches it (`rule_concerns`), else (rule deleted) kept."""
    if app is None:
        return list(events)
    names = list(app_names)
    by_id = {r.id: r for r in rules}
    out = []
    for e in events:
        apps = event_apps(e, names, worker_apps)
        if apps is not None:
            keep = app in apps
        else:
            rule = by_id.get(e.get("rule_id"))
            keep = rule is None or rule_concerns(rule, app, names, worker_apps)
        if keep:
            out.append(e)
    return out
