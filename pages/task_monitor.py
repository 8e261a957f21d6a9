"""Task Monitor: queues, workers and recent tasks from Redis, refreshing on its own."""
import redis
import streamlit as st

from app.monitor import history, keys, snapshot
from app.monitor.history import TaskFilter
from app.services import storage
from app.services.documents.samples import make_sample_docx
from app.ui import monitor_widgets as w
from app.ui.resources import broker_client, celery, redis_client, redis_ok_or_banner, settings
from config.celery_config import QUEUES

REFRESH_S = 2
st.title("Task Monitor")
if not redis_ok_or_banner():
    st.stop()

left, mid, right = st.columns([2, 2, 3])
state = left.selectbox("State", ["any", *keys.STATES], key="mon_state")
name = mid.selectbox("Task", ["any", *history.task_names(redis_client())], key="mon_name")
with right:
    b1, b2 = st.columns(2)
    if b1.button("Send health check", help="app.tasks.maintenance_tasks.health_check → default_queue"):
        r = celery().tasks["app.tasks.maintenance_tasks.health_check"].delay()
        st.toast(f"Health check sent: {r.id}")
    if b2.button("Send document job", help="process_word_document on a generated .docx"):
        path = storage.output_dir(settings().DATA_DIR, "samples") / "sample.docx"
        stored = storage.save_upload(settings().DATA_DIR, "sample.docx",
                                     make_sample_docx(path).read_bytes(), settings().max_upload_bytes)
        r = celery().tasks["app.tasks.file_tasks.process_word_document"].delay(
            str(stored.path), ["extract_text", "count_stats", "extract_images"])
        st.toast(f"Document job sent: {r.id}")


@st.fragment(run_every=REFRESH_S)
def live():
    try:
        snap = snapshot.take(redis_client(), broker_client(), QUEUES, settings().WORKER_OFFLINE_AFTER_S)
        flt = TaskFilter(state=None if state == "any" else state, name=None if name == "any" else name)
        tasks = history.list_tasks(redis_client(), flt, limit=50)
    except (redis.RedisError, OSError) as exc:
        st.error(f"Redis stopped answering: {exc}", icon=":material/error:")
        return
    st.subheader("Queues")
    w.queues_panel(snap, QUEUES)
    st.subheader("Workers")
    w.workers_panel(snap)
    st.subheader("Recent tasks")
    st.caption(" · ".join(f"{k}: {v}" for k, v in snap.counts.items() if v))
    st.dataframe(w.tasks_table(tasks), hide_index=True, width="stretch")


live()

st.subheader("Check a task by id")
task_id = st.text_input("Task id", key="lookup_id", placeholder="e.g. 4f1c…")
if task_id:
    w.task_lookup(redis_client(), task_id)
