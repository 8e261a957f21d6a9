"""Raw Celery baseline for bench_throughput.py: a plain app and a no-op task, the same Celery
settings as config.celery_config (JSON, acks_late, prefetch 1, track_started, result_extended,
events) but none of the console's telemetry (no history recorder, no heartbeat bootstep)."""
import os

from celery import Celery

app = Celery("raw", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                task_track_started=True, result_extended=True, worker_send_task_events=True,
                task_send_sent_event=True, task_default_queue="bench_q")


@app.task(name="bench.noop")
def noop(x):
    return x
