"""A second, independent Celery app for the event-ingester tests.

It stands for "an existing Celery app the console did not start": its own module name, its own
tasks and queue, plain Celery settings, and nothing imported from the console. Its broker is
INVENTORY_BROKER_URL. Start a worker the way its owners would:

    celery -A inventory_app worker -E -Q inventory -P threads -c 2   (cwd: this folder)
"""
import os
import time

from celery import Celery

app = Celery("inventory", broker=os.environ["INVENTORY_BROKER_URL"],
             backend=os.environ["INVENTORY_BROKER_URL"])
app.conf.update(task_default_queue="inventory", task_send_sent_event=True,
                worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)


class StockError(Exception):
    """Raised when an item is out of stock."""


@app.task(name="inventory.restock")
def restock(sku, quantity, warehouse="north"):
    return {"sku": sku, "stock": quantity * 2, "warehouse": warehouse}


@app.task(name="inventory.reserve")
def reserve(sku, quantity):
    raise StockError(f"{sku} is out of stock (wanted {quantity})")


@app.task(name="inventory.recount", bind=True, max_retries=3)
def recount(self, manifest_file):
    if self.request.retries < 1:
        raise self.retry(countdown=0.2, exc=StockError(f"{manifest_file} is locked"))
    return f"counted {manifest_file}"


@app.task(name="inventory.audit_pause")
def audit_pause(seconds):
    time.sleep(seconds)
    return seconds
