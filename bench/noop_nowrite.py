"""bench_throughput.py's fourth side (``--modes raw,console,norec,nowrite``): the console's
`celery_app` and task base with the history's signal handlers connected but the store's writer
given no Redis client, so the handlers run and nothing is written: splits the history's cost into
"signal handlers" and "writing"."""
from app import runtime
from app.store.writer import HistoryWriter
from app.tasks.base import ConsoleTask
from config.celery_config import celery_app as app

app.conf.task_default_queue = "bench_q"
runtime.get().recorder.writer = HistoryWriter(lambda: None, retention_s=86_400, max_tasks=1_000)


@app.task(base=ConsoleTask, name="bench.noop")
def noop(x):
    return x
