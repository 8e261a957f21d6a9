"""bench_throughput.py's third side (``--modes raw,console,norec``): the console's `celery_app` and task
base with the history's signal handlers disconnected, to split the console's overhead into "history"
and "everything else" (heartbeat bootstep, time limits, routes)."""
from app import runtime
from app.tasks.base import ConsoleTask
from config.celery_config import celery_app as app

app.conf.task_default_queue = "bench_q"
runtime.get().recorder.disconnect()


@app.task(base=ConsoleTask, name="bench.noop")
def noop(x):
    return x
