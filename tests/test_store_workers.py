"""The worker heartbeat records (`app.store.workers`) against the session's real Redis: what the
heartbeat bootstep writes, how a sign-off is scored, and which nodes `forget_heartbeats` drops."""
from __future__ import annotations

import uuid

from app.store import keys, workers


def test_a_heartbeat_writes_the_report_and_scores_the_node(redis_client):
    host = f"probe.{uuid.uuid4().hex[:8]}@host"
    try:
        workers.record_heartbeat(redis_client, host, {"status": "online", "pool": "prefork"}, 1_000.5, online=True)
        assert redis_client.hgetall(keys.worker(host)) == {"status": "online", "pool": "prefork"}
        assert 0 < redis_client.ttl(keys.worker(host)) <= workers.HEARTBEAT_TTL_S
        assert redis_client.zscore(keys.WORKERS, host) == 1_000.5
        assert workers.heartbeat_status(redis_client, host) == "online"

        workers.record_heartbeat(redis_client, host, {"status": "offline"}, 1_002.0, online=False)
        assert redis_client.zscore(keys.WORKERS, host) == -1_002.0  # signed off: negative score
        assert workers.heartbeat_status(redis_client, host) == "offline"
    finally:
        redis_client.delete(keys.worker(host))
        redis_client.zrem(keys.WORKERS, host)


def test_forget_heartbeats_drops_nodes_silent_since_the_cutoff_online_or_signed_off(redis_client):
    tag = uuid.uuid4().hex[:8]
    old_on, old_off, new_on, new_off = (f"{n}.{tag}@host" for n in ("old-on", "old-off", "new-on", "new-off"))
    try:
        workers.record_heartbeat(redis_client, old_on, {"status": "online"}, 100.0, online=True)
        workers.record_heartbeat(redis_client, old_off, {"status": "offline"}, 110.0, online=False)
        workers.record_heartbeat(redis_client, new_on, {"status": "online"}, 300.0, online=True)
        workers.record_heartbeat(redis_client, new_off, {"status": "offline"}, 310.0, online=False)
        assert workers.forget_heartbeats(redis_client, before=200.0) == 2
        left = {h for h, _ in workers.heartbeats(redis_client, limit=10_000)}
        assert {new_on, new_off} <= left and not {old_on, old_off} & left
    finally:
        for host in (old_on, old_off, new_on, new_off):
            redis_client.delete(keys.worker(host))
            redis_client.zrem(keys.WORKERS, host)
