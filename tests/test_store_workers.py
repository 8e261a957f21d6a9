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


def test_read_all_returns_both_indexes_their_hashes_and_every_workers_counts_in_one_call(redis_client):
    tag = uuid.uuid4().hex[:8]
    both, beat_only, event_only, expired = (f"{n}.{tag}@host" for n in ("both", "beat", "event", "expired"))
    try:
        workers.record_heartbeat(redis_client, both, {"status": "online", "pool": "solo"}, 9e9 + 2, online=True)
        workers.record_heartbeat(redis_client, beat_only, {"status": "offline"}, 9e9 + 1, online=False)
        workers.record_event(redis_client, both, {"hostname": both, "sw_ver": "5"}, 9e9 + 3, online=True)
        workers.record_event(redis_client, event_only, {"hostname": event_only}, 9e9 + 4, online=True)
        redis_client.zadd(keys.EVENT_WORKERS, {expired: 9e9 + 5})  # its hash is gone: left out
        redis_client.hset(keys.worker_counts(event_only), mapping={"FAILURE": 2})
        hosts, events, reports, counts = workers.read_all(redis_client, limit=10_000)
        mine = [(h, s) for h, s in hosts if tag in h]
        assert mine == [(both, 9e9 + 2), (beat_only, -(9e9 + 1))]  # newest first, sign-off negative
        assert reports[[h for h, _ in hosts].index(both)] == {"status": "online", "pool": "solo"}
        assert events[both] == (9e9 + 3, {"hostname": both, "sw_ver": "5"}) and expired not in events
        assert events[event_only][1] == {"hostname": event_only}
        assert counts[event_only] == {"FAILURE": "2"} and counts[both] == {} and counts[beat_only] == {}
    finally:
        for host in (both, beat_only, event_only, expired):
            redis_client.delete(keys.worker(host), keys.event_worker(host), keys.worker_counts(host))
            redis_client.zrem(keys.WORKERS, host)
            redis_client.zrem(keys.EVENT_WORKERS, host)
