"""The monitored apps on the pages: the registry, an app selector and the chosen app's broker and queues.

The selector (all apps, or one; shown only when more than one app is monitored) scopes the Task
Monitor's task list (`current` goes into its `TaskFilter`) and its queue panels (the chosen app's
queues on its own broker; "all apps" shows the console's own queues), the Issues page's failure
groups and the Alerts page's rules and events.
"""
from __future__ import annotations

import streamlit as st

from app.monitor import app_queues
from app.monitor.apps import CONSOLE, MonitoredApps
from app.ui.resources import broker_client, celery, redis_client, settings

ALL = "all apps"
KEY = "cc_monitored_app"


@st.cache_resource(show_spinner=False)
def _apps(_console_celery, monitor_apps: str, monitor_broker: str | None) -> MonitoredApps:
    from config.celery_settings import QUEUES

    return MonitoredApps.from_settings(settings(), _console_celery, QUEUES)


def monitored_apps() -> MonitoredApps:
    """The monitored apps (`app.monitor.apps`), built once per server process.

    Raises:
        NotConfigured: MONITOR_APPS is malformed.
    """
    s = settings()
    return _apps(celery(), s.MONITOR_APPS, s.MONITOR_BROKER_URL)


def choose() -> str | None:
    """Draw the app selector in the sidebar (when several apps are monitored); the chosen app's
    name, None for all apps."""
    names = monitored_apps().names
    if len(names) > 1:
        st.sidebar.selectbox("App", [ALL, *names], key=KEY, help="Scopes the task list, queues and charts")
        try:
            st.sidebar.caption("Event ingest — " + "; ".join(ingest_lines()))
        except Exception:  # noqa: BLE001 - a status line must never break the page
            pass
    return current()


def current(apps: MonitoredApps | None = None) -> str | None:
    """The app chosen in this session (None: all apps); `apps`: `monitored_apps()` when the caller
    has it already (each lookup is a cache_resource call, ~0.3 ms)."""
    chosen = st.session_state.get(KEY)
    names = (monitored_apps() if apps is None else apps).names
    return None if chosen in (None, ALL) or chosen not in names else chosen


@st.cache_resource(show_spinner=False)
def _broker_of(name: str, url: str, management_url: str | None = None):
    return monitored_apps().get(name).broker(management_url)


def console_broker(apps: MonitoredApps | None = None):
    """The console's own broker (CELERY_BROKER_URL, with RABBITMQ_MANAGEMENT_URL): the one its
    workers use, whatever MONITOR_BROKER_URL says; that broker when no other app is monitored
    (`apps` as in `current`)."""
    s = settings()
    if len(monitored_apps() if apps is None else apps) == 1:
        return broker_client()
    mgmt = s.RABBITMQ_MANAGEMENT_URL
    return _broker_of(CONSOLE, s.broker_url, mgmt.get_secret_value() if mgmt else None)


def broker(apps: MonitoredApps | None = None):
    """The chosen app's broker (`app.monitor.brokers.Broker`); the console's for all apps (`apps`
    as in `current`)."""
    apps = monitored_apps() if apps is None else apps
    name = current(apps)
    if name in (None, CONSOLE):
        return console_broker(apps)
    return _broker_of(name, apps.get(name).broker_url)


def queue_names(console_configured) -> tuple[str, ...]:
    """The chosen app's queues (declared, then seen); `console_configured` plus the console's seen
    queues for all apps or the console's own."""
    name = current()
    mon = monitored_apps().get(name)
    return app_queues.names(redis_client(), mon, console_configured if name in (None, CONSOLE) else None)


def details(queue_names, worker_list, chosen_broker=None, apps: MonitoredApps | None = None, client=None):
    """`QueueDetail`s of the chosen app's queues on its broker, latency for any publisher filled in
    (`app.monitor.app_queues.details`). `chosen_broker` (`broker()`), `apps` (`monitored_apps()`)
    and `client` (`redis_client()`): looked up here unless the caller has them already."""
    apps = monitored_apps() if apps is None else apps
    return app_queues.details(redis_client() if client is None else client, apps.get(current(apps)), worker_list,
                              queue_names, broker=broker(apps) if chosen_broker is None else chosen_broker)


def task_names(console_names: list[str]) -> list[str]:
    """Task names to offer for the chosen app: `console_names` for the console's own (or all
    apps), else the names its events reported (the history's task names)."""
    from app.store import history

    return console_names if current() in (None, CONSOLE) else history.task_names(redis_client())


def chart_names(queue_names) -> list[str]:
    """The queue-depth series names of `queue_names` for the chosen app: bare for the console's own
    (or all apps), ``<app>:<queue>`` for another (`app.monitor.app_queues.record_history`)."""
    name = current()
    return list(queue_names) if name in (None, CONSOLE) else [f"{name}:{q}" for q in queue_names]


def alert_queue_names(console_configured) -> list[str]:
    """Queue names to offer in an alert rule for the chosen app, as the rules name them: bare for
    the console's own (or all apps), ``<app>:<queue>`` and ``<app>:*`` (each of its queues) for
    another (`app.alerts.rules`)."""
    name = current()
    names = chart_names(queue_names(console_configured))
    return names if name in (None, CONSOLE) else [f"{name}:*", *names]


def ingest_lines(now: float | None = None) -> list[str]:
    """One line per monitored app on how far its event ingester is: seconds behind the last event's
    time and since its last report, or "no ingester reporting"."""
    import time

    from app.store import ingest

    now = time.time() if now is None else now
    names = monitored_apps().names
    seen = ingest.progress(redis_client(), names)
    out = []
    for name in names:
        p = seen.get(name)
        if not p:
            out.append(f"{name}: no ingester reporting")
            continue
        behind = f", {max(0.0, p['at'] - p['event_ts']):.1f} s behind its last event" if "event_ts" in p else ""
        out.append(f"{name}: {int(p['events']):,} events, reported {max(0.0, now - p['at']):.0f} s ago{behind}")
    return out


def retry_queue(task: dict) -> str | None:
    """For a task whose queue the history does not know (no task-sent event), a choice of queue to
    re-send it to: the queues of the worker that ran it, then its app's declared ones. None when
    the queue is known (or the console's own routes decide)."""
    from app.monitor import actions

    name = task.get("app") or CONSOLE
    if task.get("queue") or name == CONSOLE or name not in monitored_apps().names:
        return None
    offered = list(dict.fromkeys([*actions.worker_queues(redis_client(), task.get("worker")),
                                  *monitored_apps().get(name).queues]))
    if not offered:
        return None
    return st.selectbox("Queue to re-send to (its publisher sent no task-sent event)", offered,
                        key=f"retry_queue:{task['id']}")
