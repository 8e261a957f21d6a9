"""A plain Celery app for the multi-app tests: "an existing service" the console monitors.

Nothing of the console is imported. Broker LEDGER_BROKER_URL (Redis or RabbitMQ), results in
LEDGER_BACKEND_URL (Redis). Its tasks say which queue delivered them, so a test can tell where a
re-sent task ran. Start a worker the way its owners would:

    celery -A ledger_app worker -E -Q ledger_a,ledger_b   (cwd: this folder)
"""
import os
import signal
import time

from celery import Celery

app = Celery("ledger", broker=os.environ["LEDGER_BROKER_URL"], backend=os.environ["LEDGER_BACKEND_URL"])
app.conf.update(task_default_queue="ledger_a", task_send_sent_event=True, worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True, worker_prefetch_multiplier=1)


@app.task(name="ledger.post", bind=True)
def post(self, account, amount):
    """Returns the entry and the queue that delivered it."""
    return {"account": account, "amount": amount, "queue": (self.request.delivery_info or {}).get("routing_key")}


@app.task(name="ledger.settle", bind=True)
def settle(self, seconds, ignore_sigterm=False):
    """Leaves its process id as ``pid:<task id>`` in the result backend, sleeps, then leaves a mark
    ``settled:<task id>`` (a terminated run leaves none). With `ignore_sigterm` the run ignores
    SIGTERM, as a task that traps it to finish its work would."""
    before = signal.signal(signal.SIGTERM, signal.SIG_IGN) if ignore_sigterm else None
    try:
        self.backend.client.set(f"pid:{self.request.id}", os.getpid(), ex=600)
        time.sleep(seconds)
    finally:
        if before is not None:
            signal.signal(signal.SIGTERM, before)
    self.backend.client.set(f"settled:{self.request.id}", 1, ex=600)
    return seconds
