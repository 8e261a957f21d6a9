"""The console's Celery app class and its construction from the settings.

`ConsoleCelery` passes every publish through the countdown/ETA guard (`app.schedules.eta_guard`)
when the broker is Redis (RabbitMQ has no visibility timeout: an unacked message stays with its
consumer) and stores results through `ConsoleRedisBackend` when the result backend is plain Redis.
`build` configures one from `config.celery_settings` and adds the worker's consumer bootsteps
(Redis heartbeat, queue pause); signal handlers are connected by `app.runtime`, not here.
"""
from __future__ import annotations

from celery import Celery
from celery.app import backends
from celery.backends.redis import RedisBackend

from app.schedules import eta_guard
from app.store.result_backend import ConsoleRedisBackend
from app.telemetry.heartbeat import RedisHeartbeat
from app.telemetry.queue_pause import PausedQueues
from config.celery_settings import TASK_MODULES, celery_conf
from config.settings import Settings

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class ConsoleCelery(Celery):
    """Celery whose every publish passes the countdown/ETA guard when the broker is Redis, and
    whose Redis result backend also counts deliveries (module docstring)."""

    def send_task(self, name, args=None, kwargs=None, countdown=None, eta=None, *more, **options):
        redis_broker = str(self.conf.broker_url or "").startswith(_REDIS_SCHEMES)
        vt = (self.conf.broker_transport_options or {}).get("visibility_timeout") if redis_broker else None
        capped = eta_guard.check(countdown, eta, vt, is_retry=bool(options.get("retries")))
        if capped is not None:
            countdown, eta = capped, None
        return super().send_task(name, args, kwargs, countdown, eta, *more, **options)

    def _get_backend(self):
        """Celery's backend for ``result_backend``, except that a plain Redis one is
        `ConsoleRedisBackend` (counts each delivery in the STARTED store's round trip)."""
        backend, url = backends.by_url(self.backend_cls or self.conf.result_backend, self.loader)
        if backend is RedisBackend:
            backend = ConsoleRedisBackend
        return backend(app=self, url=url)


def build(settings: Settings, main: str = "console") -> ConsoleCelery:
    """A configured console app for `settings` (broker, result backend, queues, routes, limits,
    beat, the consumer bootsteps). It becomes Celery's default app, so the tasks declared with
    `shared_task` resolve to it in every thread."""
    app = ConsoleCelery(main, broker=settings.broker_url, backend=settings.result_backend,
                        include=list(TASK_MODULES))
    app.conf.update(celery_conf(settings))
    app.steps["consumer"].add(RedisHeartbeat)
    app.steps["consumer"].add(PausedQueues)
    app.set_default()
    return app
