"""The console app's result backend: Celery's `RedisBackend`, storing each state a worker reports
(STARTED, PROGRESS, SUCCESS, RETRY, ...; not FAILURE) in one round trip, STARTED also counting the
task's delivery. It lives in the store because it speaks Redis to the console's own keys (the result
key and ``cc:deliveries:<task id>``); `app.runtime.celery_app` installs it.

Celery 5 stores a state in two round trips (`BaseKeyValueStoreBackend._store_result`): a GET of the
stored meta (a SUCCESS already there is never overwritten, so a lost worker's late write cannot
undo a result), then MULTI / SET (SETEX when ``result_expires`` is set) / PUBLISH (wakes waiting
`AsyncResult.get` callers) / EXEC. Every task stores STARTED (``task_track_started``) and its
outcome from the pool process, on the task's critical path (file tasks also report PROGRESS per
step), and the console's task base added a third round trip of its own to count the delivery
(`app.telemetry.deliveries`). Here ``store_result.lua`` (beside this module) does the same server side in one call:
the same GET check, SET/SETEX and PUBLISH with the key, value and expiry Celery uses, and at
STARTED the delivery count's HINCRBY + EXPIRE. The round trips saved pay for the ones the console
adds (the delivery count, the history writer's batches; bench/bench_throughput.py). Celery's
`_get_result_meta` still builds the meta and `encode` still serialises it, so what is stored is
byte for byte what Celery stores.

The delivery number is left on the request (`DELIVERY_ATTR`) for `app.tasks.base.ConsoleTask`,
which counts by itself only when it finds none there (a task with ``ignore_result``, tracking
turned off, another backend). FAILURE (stored with ``result_expires`` or Celery's separate failure
expiry: RedisBackend's one state-dependent branch), stores without a request, and results not
serialised as JSON (the script reads the stored status) take Celery's own path.

Faults: when the script call fails (Redis unreachable, a reply lost), the state is stored by
Celery's own path (with its retries) and the request gets `COUNT_FAILED`: the task base then runs
the task uncounted, as it does when its own count fails. Not counting twice matters more than
counting every time: a call whose reply was lost may have counted already.
"""
from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from celery import states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str

from app.store import deliveries, keys

log = logging.getLogger(__name__)

#: Request attribute holding this delivery's number (1 = first) once the STARTED store counted it.
DELIVERY_ATTR = "cc_delivery"
#: `DELIVERY_ATTR` value when the count was tried and Redis failed.
COUNT_FAILED = -1

#: The store script, read once: KEYS[1] the result key; ARGV the encoded meta, its expiry in seconds
#: (0: none), then the delivery hash, field and TTL (field "": no count). Returns {delivery number or
#: 0, 1 when the meta was stored / 0 when a stored SUCCESS was kept}. The stored status is read from
#: the JSON text: Celery's meta starts with it (`_get_result_meta` puts it first); any other text
#: that mentions SUCCESS is decoded in full, so a result that merely contains the word never passes
#: for one.
STORE_LUA = Path(__file__).with_name("store_result.lua").read_text(encoding="utf-8")


class ConsoleRedisBackend(RedisBackend):
    """`RedisBackend` whose stores (except FAILURE) take one round trip each, STARTED counting the
    delivery too (module docstring)."""

    @cached_property
    def _store_script(self):
        return self.client.register_script(STORE_LUA)

    def _store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        if (state == states.FAILURE or request is None  # FAILURE: Celery's failure_expires
                or not getattr(request, "id", None) or self.serializer != "json"):
            return super()._store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        task_id = bytes_to_str(task_id)
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        meta["task_id"] = task_id
        value = self.encode(meta)
        if isinstance(value, str) and len(value) > self._MAX_STR_VALUE_SIZE:  # as RedisBackend.set
            raise BackendStoreError("value too large for Redis backend", state=state, task_id=task_id)
        counting = state == states.STARTED
        attempt = str(int(getattr(request, "retries", 0) or 0)) if counting else ""
        try:
            delivery, _stored = self._store_script(
                keys=[self.get_key_for_task(task_id)],
                args=[value, int(self.expires or 0), keys.deliveries(task_id), attempt, deliveries.TTL_S])
        except Exception as exc:  # noqa: BLE001 - Celery's own path stores the state (module docstring)
            log.warning("storing %s of %s in one call failed (%s); storing it as Celery does", state, task_id, exc)
            if counting:
                setattr(request, DELIVERY_ATTR, COUNT_FAILED)
            return super()._store_result(task_id, result, state, traceback=traceback, request=request, **kwargs)
        if counting:
            setattr(request, DELIVERY_ATTR, int(delivery))
        return result
