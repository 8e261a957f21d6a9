"""bench_throughput.py's third side (``--modes raw,console,norec``): the console's `celery_app` and task
base with the history's signal handlers disconnected, to split the console's overhead into "history"
and "everything else" (heartbeat bootstep, time limits, routes)."""
from celery import signals

from app.tasks.base import ConsoleTask
from app.telemetry import recorder
from config.celery_config import celery_app as app

app.conf.task_default_queue = "bench_q"
for signal, handler in ((signals.before_task_publish, recorder._on_publish),
                        (signals.task_received, recorder._on_received),
                        (signals.task_prerun, recorder._on_prerun),
                        (signals.task_postrun, recorder._on_postrun),
                        (signals.task_failure, recorder._on_failure),
                        (signals.task_retry, recorder._on_retry),
                        (signals.task_revoked, recorder._on_revoked)):
    signal.disconnect(handler)


@app.task(base=ConsoleTask, name="bench.noop")
def noop(x):
    return x
