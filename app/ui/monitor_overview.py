"""Overview tab of the Task Monitor: queues, workers, state counts and charts, refreshing on its own."""
from __future__ import annotations

import streamlit as st

from app.monitor import queue_control, snapshot
from app.store.clients import STORE_DOWN
from app.ui import app_selector, first_paint, monitor_charts, monitor_workers, tab_refresh
from app.ui import monitor_widgets as w
from app.ui.resources import redis_client, settings

#: Seconds between refreshes of the live parts of the Task Monitor.
REFRESH_S = 2
#: Seconds between refreshes of the charts: per-minute buckets and minute-apart queue samples change
#: slowly, and a chart costs ~15 ms of CPU (plotly validates the spec) and ~5 KB per refresh.
CHARTS_REFRESH_S = 30
#: The Overview tab's label, the page's default tab.
TAB = "Overview"


def _hidden() -> bool:
    from app.ui.task_detail import TABS_KEY  # task_detail imports monitor_tasks, which imports this module

    return tab_refresh.hidden(TABS_KEY, TAB, TAB)


def _selected() -> bool:
    from app.ui.task_detail import TABS_KEY

    return tab_refresh.selected(TABS_KEY, TAB, TAB)


@tab_refresh.timed_while_selected(REFRESH_S, _selected)
def live(page: str, queue_names: list[str]) -> None:
    """Queues first; on the session's short first run of `page` (app.ui.first_paint) nothing else.
    Refreshed every REFRESH_S while the Overview is the selected tab, not at all otherwise
    (app.ui.tab_refresh)."""
    if _hidden():
        return
    # looked up once per run: each lookup is a cache_resource call (~0.3 ms of CPU)
    client, apps = redis_client(), app_selector.monitored_apps()
    try:
        # the chosen app's broker and queues (app_selector: all apps shows the console's own)
        broker = app_selector.broker(apps)
        snap = snapshot.take(client, broker, queue_names, settings().WORKER_OFFLINE_AFTER_S)
        detail = app_selector.details(queue_names, snap.workers, broker, apps, client)
    except STORE_DOWN as exc:
        st.error(f"Redis or the broker stopped answering: {exc}", icon=":material/error:")
        return
    paused = queue_control.paused(client)
    st.subheader("Queues")
    w.queues_panel(snap, queue_names)
    monitor_workers.stuck_warnings(detail, paused)
    if first_paint.first_run(page):  # no table yet: its code (the dataframe grid) is slow to load
        return
    monitor_workers.queue_table(detail, paused)
    st.subheader("Workers")
    w.workers_panel(snap)
    counts = " · ".join(f"{k}: {v}" for k, v in snap.counts.items() if v)
    st.caption(f"Tasks in the history by state — {counts}" if counts else "No tasks recorded yet.")


@tab_refresh.timed_while_selected(CHARTS_REFRESH_S, _selected)
def charts(queue_names: list[str]) -> None:
    """Throughput, runtimes and queue depth, one chart per row (side by side they were under 300 px
    wide on a 1024 px screen); refreshed every CHARTS_REFRESH_S, not with the figures of `live`. The
    page draws it after `live`, outside it (a fragment inside another reruns with it)."""
    if _hidden():
        return
    try:
        monitor_charts.throughput(redis_client())
        monitor_charts.runtimes(redis_client())
        monitor_charts.queue_depth(redis_client(), app_selector.chart_names(queue_names))
    except STORE_DOWN as exc:
        st.error(f"Redis stopped answering: {exc}", icon=":material/error:")
