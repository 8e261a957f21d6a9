"""The console's result backend (`app.store.result_backend`) against the session's real Redis:
STARTED, PROGRESS and SUCCESS in one script call each, stored exactly as Celery's RedisBackend
stores them, a stored SUCCESS never overwritten, the delivery counted in the STARTED call."""
from __future__ import annotations

import json
import uuid

import pytest
from celery import states
from celery.app.task import Context
from celery.backends.redis import RedisBackend

from app.store import keys
from app.store.result_backend import DELIVERY_ATTR, ConsoleRedisBackend
from tests.conftest import wait_for


def _request(task_id: str, retries: int = 0) -> Context:
    return Context(id=task_id, task="tests.backend_probe", retries=retries, args=[1, "a"], kwargs={"k": 2},
                   delivery_info={"routing_key": "default_queue"}, hostname="probe@host", ignore_result=False)


def _stored(client, backend, task_id: str) -> dict:
    meta = json.loads(client.get(backend.get_key_for_task(task_id)))
    meta.pop("date_done", None)
    meta.pop("task_id")
    return meta


@pytest.fixture()
def backends(celery_app, redis_url):
    ours = celery_app.backend
    assert isinstance(ours, ConsoleRedisBackend)
    return ours, RedisBackend(app=celery_app, url=redis_url)


@pytest.mark.parametrize("state, result", [(states.STARTED, {"pid": 12, "hostname": "probe@host"}),
                                           ("PROGRESS", {"current": 1, "total": 3, "percent": 33}),
                                           (states.SUCCESS, {"words": 3, "note": "SUCCESS"})])
def test_started_and_success_are_stored_as_celery_stores_them(backends, redis_client, state, result):
    ours, celery = backends
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    pubsub = redis_client.pubsub()
    pubsub.subscribe(ours.get_key_for_task(mine))
    wait_for(lambda: pubsub.get_message(timeout=0.1) is not None)  # the subscribe confirmation
    ours.store_result(mine, result, state, request=_request(mine))
    celery.store_result(theirs, result, state, request=_request(theirs))
    assert _stored(redis_client, ours, mine) == _stored(redis_client, celery, theirs)
    assert abs(redis_client.ttl(ours.get_key_for_task(mine)) - redis_client.ttl(celery.get_key_for_task(theirs))) <= 1
    message = wait_for(lambda: pubsub.get_message(timeout=0.1))  # waiting AsyncResult.get callers wake
    assert json.loads(message["data"])["status"] == state
    pubsub.close()
    assert ours.get_task_meta(mine)["result"] == result


def test_a_stored_success_is_never_overwritten_by_a_late_started(backends, redis_client):
    ours, _ = backends
    task_id = str(uuid.uuid4())
    ours.store_result(task_id, 42, states.SUCCESS, request=_request(task_id))
    late = _request(task_id)
    ours.store_result(task_id, {"pid": 1, "hostname": "lost@host"}, states.STARTED, request=late)
    assert _stored(redis_client, ours, task_id)["status"] == states.SUCCESS
    assert _stored(redis_client, ours, task_id)["result"] == 42
    assert getattr(late, DELIVERY_ATTR) == 1  # the delivery still counts


def test_a_success_written_with_other_key_order_is_kept_too(backends, redis_client):
    """Another writer's JSON with "status" not first: the script decodes it instead of matching the prefix."""
    ours, _ = backends
    task_id = str(uuid.uuid4())
    redis_client.set(ours.get_key_for_task(task_id), json.dumps({"result": 7, "status": "SUCCESS", "task_id": task_id}))
    ours.store_result(task_id, {"pid": 1, "hostname": "x@h"}, states.STARTED, request=_request(task_id))
    assert _stored(redis_client, ours, task_id) == {"result": 7, "status": "SUCCESS"}


def test_a_result_that_only_mentions_success_does_not_pass_for_one(backends, redis_client):
    ours, _ = backends
    task_id = str(uuid.uuid4())
    ours.store_result(task_id, {"status": "SUCCESS", "message": "SUCCESS so far"}, "PROGRESS", request=_request(task_id))
    ours.store_result(task_id, "done", states.SUCCESS, request=_request(task_id))
    assert _stored(redis_client, ours, task_id)["result"] == "done"


def test_the_started_store_counts_each_delivery_of_an_attempt(backends, redis_client):
    ours, _ = backends
    task_id = str(uuid.uuid4())
    seen = []
    for retries in (0, 0, 1):
        request = _request(task_id, retries=retries)
        ours.store_result(task_id, {"pid": 1, "hostname": "w@h"}, states.STARTED, request=request)
        seen.append(getattr(request, DELIVERY_ATTR))
    assert seen == [1, 2, 1]  # a retry is a new attempt
    assert redis_client.hgetall(keys.deliveries(task_id)) == {"0": "2", "1": "1"}
    assert 0 < redis_client.ttl(keys.deliveries(task_id)) <= 2 * 86_400
    ours.store_result(task_id, "ok", states.SUCCESS, request=_request(task_id))
    assert redis_client.hgetall(keys.deliveries(task_id)) == {"0": "2", "1": "1"}  # SUCCESS counts nothing


def test_failure_takes_celerys_own_path_with_its_expiry(backends, redis_client):
    ours, celery = backends
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    error = ValueError("bad input")
    ours.store_result(mine, error, states.FAILURE, traceback="Traceback ...", request=_request(mine))
    celery.store_result(theirs, error, states.FAILURE, traceback="Traceback ...", request=_request(theirs))
    assert _stored(redis_client, ours, mine) == _stored(redis_client, celery, theirs)
    assert redis_client.hgetall(keys.deliveries(mine)) == {}
