"""History index: filters, search, time range, percentiles and trimming on a known set of tasks.

Tasks are written through the same recorder calls the signal handlers make; each test uses its own
uuid-named task names so it never depends on what other tests left in the session's Redis.
"""
from __future__ import annotations

import time
import uuid

import pytest

from app.store import history, keys
from app.store.history import TaskFilter
from app.store import histogram
from app import runtime

pytestmark = pytest.mark.usefixtures("celery_app")  # configures the recorder from settings


def _known_set(prefix: str, n: int = 60):
    """n tasks across 3 names, 2 queues, 2 workers and 3 final states; returns the expected rows."""
    rows = []
    for i in range(n):
        tid = f"{prefix}-{i:03d}"
        name = f"{prefix}.task_{i % 3}"
        queue = f"{prefix}_q{i % 2}"
        worker = f"w{i % 2}@{prefix}"
        state = ("SUCCESS", "FAILURE", "REVOKED")[i % 3 if i % 5 else 0]
        runtime.get().writer.write(tid, "SENT", {"sent_at": time.time(), "args": f'["invoice-{i}.pdf"]'}, name=name,
                        queue=queue, first_seen=True, search_text=f'{tid} ["invoice-{i}.pdf", "{prefix}"]')
        runtime.get().writer.write(tid, "STARTED", {"started_at": time.time()}, name=name, queue=queue, worker=worker)
        runtime.get().writer.write(tid, state, {"finished_at": time.time(), "runtime_s": 0.02 * (i + 1)}, name=name, worker=worker)
        rows.append({"id": tid, "name": name, "queue": queue, "worker": worker, "state": state})
    assert runtime.get().writer.flush()
    return rows


def test_filters_and_search_match_a_known_set(redis_client):
    prefix = uuid.uuid4().hex[:10]
    rows = _known_set(prefix)
    for flt, pred in [
        (TaskFilter(name=f"{prefix}.task_1"), lambda r: r["name"] == f"{prefix}.task_1"),
        (TaskFilter(queue=f"{prefix}_q0", state="FAILURE"), lambda r: r["queue"] == f"{prefix}_q0" and r["state"] == "FAILURE"),
        (TaskFilter(worker=f"w1@{prefix}", name=f"{prefix}.task_2"),
         lambda r: r["worker"] == f"w1@{prefix}" and r["name"] == f"{prefix}.task_2"),
        (TaskFilter(search=f"invoice-7.pdf {prefix}"), lambda r: r["id"] == f"{prefix}-007"),
    ]:
        got = {t["id"] for t in history.list_tasks(redis_client, flt, limit=500)}
        want = {r["id"] for r in rows if pred(r)}
        assert got == want and want, flt
    assert [t["id"] for t in history.list_tasks(redis_client, TaskFilter(search=f"{prefix}-042"))] == [f"{prefix}-042"]
    page1 = history.list_tasks(redis_client, TaskFilter(name=f"{prefix}.task_0"), limit=5)
    page2 = history.list_tasks(redis_client, TaskFilter(name=f"{prefix}.task_0"), limit=5, offset=5)
    assert len(page1) == len(page2) == 5 and not {t["id"] for t in page1} & {t["id"] for t in page2}
    assert history.list_tasks(redis_client, TaskFilter(name=f"{prefix}.task_0", since=time.time() + 60)) == []


def test_timeline_and_runtime_percentiles(redis_client):
    prefix = uuid.uuid4().hex[:10]
    rows = _known_set(prefix, 30)
    tl = history.timeline(redis_client, rows[4]["id"])
    assert [e["state"] for e in tl] == ["SENT", "STARTED", rows[4]["state"]]
    name = f"{prefix}.task_0"
    runtimes = sorted(0.02 * (i + 1) for i in range(30) if i % 3 == 0 and rows[i]["state"] in ("SUCCESS", "FAILURE"))
    stats = history.runtime_percentiles(redis_client, [name])[name]
    assert stats["count"] == len(runtimes)
    p50_true = runtimes[int(0.5 * len(runtimes) + 0.5) - 1]
    bucket = histogram.bucket_for(p50_true)
    assert stats["p50"] == float(bucket)  # reported as the bucket's upper bound


def test_trim_removes_old_and_excess_ids_from_every_index(redis_client):
    prefix = uuid.uuid4().hex[:10]
    rows = _known_set(prefix, 12)
    old = rows[0]["id"]
    redis_client.zadd(keys.TASKS_ALL, {old: time.time() - 10 * 86_400})
    history.trim(redis_client, retention_s=7 * 86_400, max_tasks=10**9)
    assert redis_client.exists(keys.task(old)) == 0
    assert redis_client.zscore(keys.name_index(rows[0]["name"]), old) is None
    assert redis_client.zscore(keys.state_index(rows[0]["state"]), old) is None
    assert history.get_task(redis_client, rows[1]["id"]) is not None


def test_page_with_children_and_cursor_from_one_script_call(redis_client):
    """`list_tasks_and_children` lists what `list_tasks` lists, each task with its children; `page`'s
    cursor (built from the first-seen times the page script returns) walks every task once."""
    prefix = uuid.uuid4().hex[:10]
    _known_set(prefix, n=12)
    parent = f"{prefix}-011"
    kids = [f"{prefix}-kid-{i}" for i in range(2)]
    for kid in kids:
        runtime.get().writer.write(kid, "SENT", {"sent_at": time.time(), "parent_id": parent}, name=f"{prefix}.kid",
                                   first_seen=True, parent_id=parent)
    assert runtime.get().writer.flush()
    flt = TaskFilter(name=f"{prefix}.task_2")
    plain = history.list_tasks(redis_client, flt, limit=3, offset=1)
    paired = history.list_tasks_and_children(redis_client, flt, limit=3, offset=1)
    assert [t for t, _ in paired] == plain and len(plain) == 3
    newest = history.list_tasks_and_children(redis_client, TaskFilter(name=f"{prefix}.task_2"), limit=1)
    by_id = history.list_tasks_and_children(redis_client, TaskFilter(search=parent))
    assert [(t["id"], k) for t, k in newest] == [(t["id"], k) for t, k in by_id] == [(parent, set(kids))]
    listed, cursor = [], None
    while True:
        tasks, cursor = history.page(redis_client, TaskFilter(name=f"{prefix}.task_0"), 2, cursor)
        listed += [t["id"] for t in tasks]
        if cursor is None:
            break
    assert listed == [f"{prefix}-{i:03d}" for i in (9, 6, 3, 0)]
