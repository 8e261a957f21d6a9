"""Raw Celery baseline for bench_throughput.py and bench_scale.py: a plain app with a no-op task and
a small-document task (the same document work process_word_document does with count_stats),
the same Celery settings as config.celery_config (JSON, acks_late, prefetch 1, track_started,
result_extended, events) but none of the console's telemetry (no history recorder, no heartbeat
bootstep) and no file store. Broker: CELERY_BROKER_URL, else REDIS_URL; results on REDIS_URL."""
import os
import tempfile
from pathlib import Path

from celery import Celery

# imported here, before the pool forks, as the console's worker imports its task modules
from app.documents import registry
from config.settings import get_settings

app = Celery("raw", broker=os.environ.get("CELERY_BROKER_URL") or os.environ["REDIS_URL"],
             backend=os.environ["REDIS_URL"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                task_track_started=True, result_extended=True, worker_send_task_events=True,
                task_send_sent_event=True, task_default_queue="bench_q", task_queue_max_priority=10)


@app.task(name="bench.noop")
def noop(x):
    return x


@app.task(name="bench.doc_stats")
def doc_stats(path):
    """The console's own document work for one stored .docx — the file-type and archive guards,
    then count_stats (`app.documents.registry.run`, what process_word_document runs) — on
    raw Celery: no console task base, history, progress reports or per-task file store, so the
    scale bench's .docx ratio is the console's overhead on the same work."""
    with tempfile.TemporaryDirectory() as out:
        return registry.run("word", Path(path), ["count_stats"], Path(out), None,
                            registry.Limits.from_settings(get_settings()))
