"""RedBeat's scheduler, made to ride out Redis outages instead of exiting.

Plain `redbeat.RedBeatScheduler` lets a Redis error escape `tick()`, which ends `celery beat` with
rc=1 (and, when the startup lock acquisition failed, every later tick fails on ``lock = None``).
`RetryingRedBeatScheduler`:

- a Redis connection error, timeout or "loading" reply during a tick is logged as ONE warning line
  (no traceback) and the tick is tried again after `RETRY_S`; the first good tick logs "reachable
  again";
- the RedBeat lock (only one beat sends) is (re)acquired without blocking at each tick when beat
  does not hold it: at startup if Redis was away, or after an outage longer than the lock timeout
  (`LockNotOwnedError` on extend). While another beat holds it, this one sends nothing and says so
  once.

Select it with ``celery beat -S app.beat_scheduler.RetryingRedBeatScheduler`` (the Procfile and
the ``beat_scheduler`` setting in `config.celery_settings` do). It stays beside the other entry
points rather than in a domain package: it is Celery machinery, and the Redis it speaks (RedBeat's
lock and schedule keys) goes through RedBeat's own client; the error classes it catches come from
`app.store.clients`, so it imports no redis itself.
"""
from __future__ import annotations

import logging

from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, RedBeatScheduler, get_redis

from app.store.clients import StoreBusyLoadingError, StoreConnectionError, StoreLockError, StoreTimeoutError

log = logging.getLogger("celery.beat")

#: Seconds between tries while Redis is unreachable.
RETRY_S = 2.0
_REDIS_DOWN = (StoreConnectionError, StoreTimeoutError, StoreBusyLoadingError, ConnectionError, OSError)


class RetryingRedBeatScheduler(RedBeatScheduler):
    """`RedBeatScheduler` whose ticks survive Redis errors and a lost lock (see module docstring)."""

    _outage = False
    _standby = False

    def _take_lock(self) -> bool:
        """Try once, without blocking, to hold the RedBeat lock; True when this beat holds it."""
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        if not lock.acquire(blocking=False):
            if not self._standby:
                log.warning("beat: another beat holds %s; standing by (nothing is sent from here)", self.lock_key)
                self._standby = True
            return False
        log.info("beat: acquired lock %s", self.lock_key)
        self.lock, self._standby = lock, False
        return True

    def tick(self, min=min, **kwargs):
        try:
            if self.lock_key and self.lock is None and not self._take_lock():
                return self.max_interval
            interval = super().tick(min=min, **kwargs)
        except _REDIS_DOWN as exc:
            if not self._outage:
                log.warning("beat: Redis unreachable (%s: %s); retrying every %g s", type(exc).__name__, exc, RETRY_S)
            self._outage = True
            return RETRY_S
        except StoreLockError as exc:
            log.warning("beat: lost lock %s (%s); taking it again", self.lock_key, type(exc).__name__)
            self.lock = None
            return RETRY_S
        if self._outage:
            log.warning("beat: Redis reachable again")
            self._outage = False
        return interval
