"""Raw Celery baseline for bench_throughput.py and bench_scale.py: a plain app with a no-op task and
a small-document task (python-docx word count, the work of process_word_document's count_stats),
the same Celery settings as config.celery_config (JSON, acks_late, prefetch 1, track_started,
result_extended, events) but none of the console's telemetry (no history recorder, no heartbeat
bootstep) and no file store. Broker: CELERY_BROKER_URL, else REDIS_URL; results on REDIS_URL."""
import os

from celery import Celery

app = Celery("raw", broker=os.environ.get("CELERY_BROKER_URL") or os.environ["REDIS_URL"],
             backend=os.environ["REDIS_URL"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                task_track_started=True, result_extended=True, worker_send_task_events=True,
                task_send_sent_event=True, task_default_queue="bench_q", task_queue_max_priority=10)


@app.task(name="bench.noop")
def noop(x):
    return x


@app.task(name="bench.doc_words")
def doc_words(path):
    import docx

    document = docx.Document(path)
    return {"words": sum(len(p.text.split()) for p in document.paragraphs)}
