"""The workers' entry point: ``celery_app``, the console's Celery app of this process's runtime.

Start a worker: ``celery -A config.celery_config worker -Q email_queue``.
Start beat (exactly one; a second one waits on RedBeat's lock and sends nothing):
``celery -A config.celery_config beat -S app.beat_scheduler.RetryingRedBeatScheduler``.

Importing this module builds the process's runtime (`app.runtime.get`: the app, the history
writer, the signal handlers). The configuration itself is data in `config.celery_settings`; the
application's own code takes the app from the runtime and never imports this module.
"""
from __future__ import annotations

from app import runtime

celery_app = runtime.get().celery
