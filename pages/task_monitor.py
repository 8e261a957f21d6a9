"""Task Monitor: queues, workers and task history from Redis, refreshing on its own, with actions."""
import streamlit as st

from app.monitor import workers
from app.ui import (alert_forms, app_selector, confirm, first_paint, monitor_overview, monitor_tasks, monitor_workers,
                    queue_controls, sample_jobs, task_detail)
from app.ui.navigation import via_entry_script
from app.ui.resources import redis_client, redis_ok_or_banner, settings

via_entry_script()

PAGE = "task_monitor"  # first_paint key: the session's first run shows the queues; a full run follows
st.title("Task Monitor")
if not redis_ok_or_banner():
    st.stop()
alert_forms.firing_banner(redis_client())
monitor_tasks.from_url()  # a link's task, app and filters (?task=<id>&state=…), before the boxes are drawn
app_selector.choose()  # several monitored apps: which one the page shows (all, or one)
QUEUES = app_selector.queue_names(settings().monitor_queues)  # the chosen app's queues: declared + seen in events
sample_jobs.buttons()
confirm.pending_box()
task_detail.carry_pending_diagnosis()  # "Why is it stuck?" in a detail opens the diagnosis tab with its id

overview, tasks_tab, workers_tab, stuck_tab, audit_tab = st.tabs(
    ["Overview", "Tasks", "Workers & queues", task_detail.STUCK_TAB, "Audit log"], key=task_detail.TABS_KEY,
    on_change="rerun")
with overview:
    monitor_overview.live(PAGE, QUEUES)
    first_paint.rest(PAGE)  # a browser session's first run ends here; a full run follows once it is shown
    monitor_overview.charts(QUEUES)

with tasks_tab:
    flt = monitor_tasks.filters(QUEUES)
    monitor_tasks.live(flt)
    monitor_tasks.bulk_actions(flt)
    monitor_tasks.lookup()

with workers_tab:
    ws = workers.list_workers(redis_client(), settings().WORKER_OFFLINE_AFTER_S)
    for info in sorted(ws, key=lambda w: w.hostname):
        monitor_workers.worker_detail(info)
    monitor_workers.worker_actions(ws, QUEUES)
    queue_controls.panel(QUEUES)

with stuck_tab:
    monitor_workers.stuck_tab()

with audit_tab:
    monitor_workers.audit_table()
