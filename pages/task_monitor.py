"""Task Monitor: queues, workers and task history from Redis, refreshing on its own, with actions."""
import redis
import streamlit as st

from app.monitor import queue_control, snapshot, workers
from app.files import filestore, storage
from app.documents.samples import make_sample_docx
from app.ui import (access, alert_forms, app_selector, confirm, first_paint, monitor_charts, monitor_tasks, monitor_workers,
                    queue_controls)
from app.ui.access import can
from app.ui import monitor_widgets as w
from app.ui.resources import celery, redis_client, redis_ok_or_banner, settings
from app.ui.navigation import via_entry_script

via_entry_script()

REFRESH_S = 2
PAGE = "task_monitor"  # first_paint key: the session's first run shows the queues, then reruns for the rest
st.title("Task Monitor")
if not redis_ok_or_banner():
    st.stop()
alert_forms.firing_banner(redis_client())
app_selector.choose()
QUEUES = app_selector.queue_names(settings().monitor_queues)  # the chosen app's queues: declared + seen in events

b1, b2, _ = st.columns([1, 1, 4])
if can("submit") and b1.button("Send health check", help="app.tasks.maintenance_tasks.health_check → default_queue"):
    if r := access.submit(celery().tasks["app.tasks.maintenance_tasks.health_check"]):
        st.toast(f"Health check sent: {r.id}")
if can("submit") and b2.button("Send document job",
                               help="process_word_document on a generated .docx → file_processing_queue"):
    path = make_sample_docx(storage.output_dir(settings().DATA_DIR, "samples") / "sample.docx")
    stored = filestore.current().save_upload("sample.docx", path.read_bytes(), settings().max_upload_bytes)
    if r := access.submit(celery().tasks["app.tasks.file_tasks.process_word_document"],
                          args=[str(stored.path), ["extract_text", "count_stats", "extract_images"]]):
        st.toast(f"Document job sent: {r.id}")
confirm.pending_box()

overview, tasks_tab, workers_tab, stuck_tab, audit_tab = st.tabs(
    ["Overview", "Tasks", "Workers & queues", "Why stuck?", "Audit log"])


@st.fragment(run_every=REFRESH_S)
def live_overview():
    try:
        snap = snapshot.take(redis_client(), app_selector.broker(), QUEUES, settings().WORKER_OFFLINE_AFTER_S)
        detail = app_selector.details(QUEUES, snap.workers)
    except (redis.RedisError, OSError) as exc:
        st.error(f"Redis or the broker stopped answering: {exc}", icon=":material/error:")
        return
    st.subheader("Queues")
    w.queues_panel(snap, QUEUES)
    monitor_workers.queue_table(detail, queue_control.paused(redis_client()))
    if first_paint.first_run(PAGE):  # short first run: the queues only (app.ui.first_paint)
        return
    st.subheader("Workers")
    w.workers_panel(snap)
    st.caption(" · ".join(f"{k}: {v}" for k, v in snap.counts.items() if v) or "No tasks recorded yet.")
    c1, c2 = st.columns(2)
    with c1:
        monitor_charts.throughput(redis_client())
    with c2:
        monitor_charts.runtimes(redis_client())
    monitor_charts.queue_depth(redis_client(), app_selector.chart_names(QUEUES))


with overview:
    live_overview()
first_paint.rest(PAGE)  # first run of the session ends here and reruns at once with everything below

with tasks_tab:
    flt = monitor_tasks.filters(QUEUES)

    @st.fragment(run_every=REFRESH_S)
    def live_tasks():
        try:
            monitor_tasks.table(flt)
            selected = st.session_state.get(monitor_tasks.SELECTED)
            if selected:
                st.divider()
                monitor_tasks.detail(selected)
        except (redis.RedisError, OSError) as exc:
            st.error(f"Redis stopped answering: {exc}", icon=":material/error:")

    live_tasks()
    monitor_tasks.bulk_actions(flt)
    st.subheader("Check a task by id")
    task_id = st.text_input("Task id", key="lookup_id", placeholder="e.g. 4f1c…")
    if task_id:
        w.task_lookup(redis_client(), task_id)

with workers_tab:
    ws = workers.list_workers(redis_client(), settings().WORKER_OFFLINE_AFTER_S)
    for info in ws:
        monitor_workers.worker_detail(info)
    monitor_workers.worker_actions(ws, QUEUES)
    queue_controls.panel(QUEUES)

with stuck_tab:
    diag_id = st.text_input("Task id to diagnose", key="diag_id")
    if diag_id:
        monitor_workers.stuck_panel(diag_id)

with audit_tab:
    monitor_workers.audit_table()
