"""The console's side for bench_throughput.py: the real `celery_app` (history recorder, heartbeat
bootstep) and a no-op task on the console's task base."""
from app.tasks.base import ConsoleTask
from config.celery_config import celery_app as app

app.conf.task_default_queue = "bench_q"


@app.task(base=ConsoleTask, name="bench.noop")
def noop(x):
    return x
