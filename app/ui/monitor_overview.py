"""Overview tab of the Task Monitor: queues, workers, state counts and charts, refreshing on its own."""
from __future__ import annotations

import streamlit as st

from app.monitor import queue_control, snapshot
from app.store.clients import STORE_DOWN
from app.ui import app_selector, first_paint, monitor_charts, monitor_workers
from app.ui.auth import fragment  # st.fragment that checks the session on each of its runs
from app.ui import monitor_widgets as w
from app.ui.resources import redis_client, settings

#: Seconds between refreshes of the live parts of the Task Monitor.
REFRESH_S = 2


@fragment(run_every=REFRESH_S)
def live(page: str, queue_names: list[str]) -> None:
    """Queues first; on the session's short first run of `page` (app.ui.first_paint) nothing else."""
    try:
        # the chosen app's broker and queues (app_selector: all apps shows the console's own)
        snap = snapshot.take(redis_client(), app_selector.broker(), queue_names, settings().WORKER_OFFLINE_AFTER_S)
        detail = app_selector.details(queue_names, snap.workers)
    except STORE_DOWN as exc:
        st.error(f"Redis or the broker stopped answering: {exc}", icon=":material/error:")
        return
    st.subheader("Queues")
    w.queues_panel(snap, queue_names)
    monitor_workers.queue_table(detail, queue_control.paused(redis_client()))
    if first_paint.first_run(page):
        return
    st.subheader("Workers")
    w.workers_panel(snap)
    counts = " · ".join(f"{k}: {v}" for k, v in snap.counts.items() if v)
    st.caption(f"Tasks in the history by state — {counts}" if counts else "No tasks recorded yet.")
    # one chart per row: side by side they were under 300 px wide on a 1024 px screen
    monitor_charts.throughput(redis_client())
    monitor_charts.runtimes(redis_client())
    monitor_charts.queue_depth(redis_client(), app_selector.chart_names(queue_names))
