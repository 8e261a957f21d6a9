"""Maintenance tasks on real data, run by the real worker; outputs checked with independent readers
(Redis commands, tarfile, the file system)."""
from __future__ import annotations

import os
import shutil
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from app.store import history, keys, queue_history
from app.tasks import maintenance_tasks as m
from config.celery_config import celery_app
from config.celery_settings import QUEUES
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")
DAY_S = 86_400


def result_key(task_id: str) -> str:
    return f"celery-task-meta-{task_id}"


def finished(redis_client, task_id: str, state: str) -> None:
    wait_for(lambda: (t := history.get_task(redis_client, task_id)) and t["state"] == state, timeout_s=20)


def test_cleanup_old_results_removes_expired_keeps_young(redis_client):
    old = m.health_check.delay()
    old.get(timeout=20)
    finished(redis_client, old.id, "SUCCESS")
    time.sleep(1.5)
    young = m.health_check.delay()
    young.get(timeout=20)
    finished(redis_client, young.id, "SUCCESS")
    old_seen = redis_client.zscore(keys.TASKS_ALL, old.id)
    young_seen = redis_client.zscore(keys.TASKS_ALL, young.id)
    assert redis_client.exists(result_key(old.id)) and redis_client.exists(result_key(young.id))

    cutoff_age_s = time.time() - (old_seen + young_seen) / 2
    out = m.cleanup_old_results.delay(older_than_s=cutoff_age_s).get(timeout=30)
    assert out["status"] == "completed" and out["removed"] >= 1 and out["results_removed"] >= 1

    assert redis_client.zscore(keys.TASKS_ALL, old.id) is None
    assert not redis_client.exists(keys.task(old.id), result_key(old.id))
    assert old.id not in redis_client.zrange(keys.state_index("SUCCESS"), 0, -1)
    assert old.id not in redis_client.zrange(keys.name_index(m.health_check.name), 0, -1)
    assert redis_client.zscore(keys.TASKS_ALL, young.id) == young_seen
    assert redis_client.exists(keys.task(young.id)) and redis_client.exists(result_key(young.id))


def test_cleanup_failed_tasks_removes_leftovers_of_old_failures_only(redis_client, data_dir):
    def fail() -> str:
        r = celery_app.send_task("app.tasks.file_tasks.process_word_document",
                                 args=[str(data_dir / "uploads" / f"missing-{uuid.uuid4().hex}.docx")])
        finished(redis_client, r.id, "FAILURE")
        return r.id

    old_id = fail()
    time.sleep(1.5)
    young_id = fail()
    ok = m.health_check.delay()
    ok.get(timeout=20)
    folders = {}
    for tid in (old_id, young_id, ok.id):  # partial outputs, as a job that died midway leaves them
        folders[tid] = data_dir / "outputs" / tid
        folders[tid].mkdir(parents=True, exist_ok=True)
        (folders[tid] / "part.txt").write_text("partial output " * 100)
    redis_client.delete(keys.FAILED_CLEANED_UNTIL)
    failed_at = {t: redis_client.zscore(keys.state_index("FAILURE"), t) for t in (old_id, young_id)}
    age_s = time.time() - (failed_at[old_id] + failed_at[young_id]) / 2

    out = m.cleanup_failed_tasks.delay(older_than_s=age_s).get(timeout=30)
    assert out["status"] == "completed" and out["outputs_removed"] >= 1 and out["bytes_freed"] >= 1500
    assert not folders[old_id].exists() and not redis_client.exists(result_key(old_id))
    assert history.get_task(redis_client, old_id)["state"] == "FAILURE"  # the monitor still shows it
    assert (folders[young_id] / "part.txt").is_file() and redis_client.exists(result_key(young_id))
    assert (folders[ok.id] / "part.txt").is_file()

    again = m.cleanup_failed_tasks.delay(older_than_s=age_s).get(timeout=30)
    assert again["examined"] == 0 and again["outputs_removed"] == 0
    shutil.rmtree(folders[young_id])
    shutil.rmtree(folders[ok.id])


def test_archive_old_files_archives_past_retention_leaves_others(data_dir, corpus):
    outputs = data_dir / "outputs"
    old, new, mixed = (outputs / f"job-{uuid.uuid4().hex[:8]}-{k}" for k in ("old", "new", "mixed"))
    docx = (corpus / "docx" / "google-docs_no_docprops.docx").read_bytes()
    for folder in (old, new, mixed):
        (folder / "images").mkdir(parents=True)
        (folder / "text.txt").write_text(f"text of {folder.name}")
        (folder / "images" / "doc.docx").write_bytes(docx)
    ten_days_ago = time.time() - 10 * DAY_S
    for folder in (old, mixed):
        for p in [*folder.rglob("*"), folder]:
            os.utime(p, (ten_days_ago, ten_days_ago))
    os.utime(mixed / "text.txt")  # touched just now: the job is still in use
    new_state = {p: (p.read_bytes(), p.stat().st_mtime) for p in new.rglob("*") if p.is_file()}

    out = m.archive_old_files.delay().get(timeout=60)  # default retention: OUTPUT_RETENTION_S (12 h)
    assert out["status"] == "completed" and old.name in out["archived"]
    assert new.name not in out["archived"] and mixed.name not in out["archived"]
    assert not old.exists()
    archive = data_dir / "archive" / "outputs" / f"{old.name}.tar.gz"
    with tarfile.open(archive, "r:gz") as tar:
        names = set(tar.getnames())
        assert {f"{old.name}/text.txt", f"{old.name}/images/doc.docx"} <= names
        assert tar.extractfile(f"{old.name}/images/doc.docx").read() == docx
        assert tar.extractfile(f"{old.name}/text.txt").read() == f"text of {old.name}".encode()
    assert {p: (p.read_bytes(), p.stat().st_mtime) for p in new.rglob("*") if p.is_file()} == new_state
    assert (mixed / "images" / "doc.docx").read_bytes() == docx

    again = m.archive_old_files.delay().get(timeout=60)
    assert old.name not in again["archived"] and archive.is_file()
    shutil.rmtree(new)
    shutil.rmtree(mixed)


def test_overlapping_run_skips_with_reason_and_lock_expires(redis_client):
    lock = redis_client.lock(keys.lock("archive_old_files"), timeout=2)
    assert lock.acquire(blocking=False)
    out = m.archive_old_files.delay().get(timeout=30)
    assert out["status"] == "skipped" and "holds the lock" in out["reason"]
    time.sleep(2.2)  # the holder never released it (a crashed run): the expiry frees it
    assert m.archive_old_files.delay().get(timeout=30)["status"] == "completed"


def test_two_runs_at_once_do_the_work_once(data_dir):
    """Two cleanup runs sent together: each either works or skips; the folder is archived once."""
    folder = data_dir / "outputs" / f"job-{uuid.uuid4().hex[:8]}-twice"
    folder.mkdir(parents=True)
    for i in range(200):
        (folder / f"f{i}.txt").write_text("x" * 2000)
    then = time.time() - 10 * DAY_S
    for p in [*folder.iterdir(), folder]:
        os.utime(p, (then, then))
    a, b = m.archive_old_files.delay(), m.archive_old_files.delay()
    results = [a.get(timeout=60), b.get(timeout=60)]
    assert sum(folder.name in r.get("archived", []) for r in results) == 1
    archives = list((data_dir / "archive" / "outputs").glob(f"{folder.name}*.tar.gz"))
    assert len(archives) == 1 and not folder.exists()


def test_monitor_queue_sizes_records_depths(redis_client):
    before = {q: len(queue_history.series(redis_client, q)) for q in QUEUES}
    out = m.monitor_queue_sizes.delay().get(timeout=30)
    assert out["status"] == "completed" and set(out["ready"]) == set(QUEUES)
    for q in QUEUES:
        points = queue_history.series(redis_client, q)
        assert len(points) == before[q] + 1
        ts, ready, latency_s = points[-1]
        assert abs(ts - time.time()) < 30 and ready == out["ready"][q] >= 0
        assert latency_s == out["latency_s"][q]
    assert out["stuck"] == []  # the test worker consumes every queue


def test_queue_with_messages_and_no_consumer_is_flagged_until_it_recovers(redis_client):
    redis_client.delete(keys.QUEUE_STUCK, keys.queue_depth("zq"))
    t0 = 1_000_000.0
    assert queue_history.record(redis_client, {"zq": 3}, {}, retention_s=120, now=t0) == ["zq"]
    assert queue_history.record(redis_client, {"zq": 5}, {}, retention_s=120, now=t0 + 60) == ["zq"]
    assert queue_history.stuck(redis_client)["zq"] == {"since": t0, "ready": 5}
    assert queue_history.record(redis_client, {"zq": 5}, {"zq": ["w1"]}, retention_s=120, now=t0 + 120) == []
    assert "zq" not in queue_history.stuck(redis_client)
    queue_history.record(redis_client, {"zq": 0}, {}, retention_s=120, now=t0 + 200)
    assert "zq" not in queue_history.stuck(redis_client)  # empty and unconsumed is not stuck
    # retention: the points older than 120 s before the last write are gone
    assert queue_history.series(redis_client, "zq") == [(t0 + 120, 5, None), (t0 + 200, 0, None)]
    queue_history.record(redis_client, {"zq": 2}, {"zq": ["w1"]}, 120, now=t0 + 210, latency_s={"zq": 4.25})
    assert queue_history.series(redis_client, "zq", since=t0 + 205) == [(t0 + 210, 2, 4.25)]
    redis_client.delete(keys.queue_depth("zq"))


def test_health_check_reports_beat_missing_and_unconfigured_features(redis_client):
    from redbeat.schedulers import ensure_conf

    redis_client.delete(ensure_conf(celery_app).lock_key)
    report = m.health_check.delay().get(timeout=20)
    assert report["checks"]["redis"]["ok"] and report["checks"]["beat"]["ok"] is False
    assert any("beat is not running" in p for p in report["problems"])
    assert report["status"] == "degraded"
    assert report["checks"]["smtp"]["configured"] is False
    assert report["checks"]["ai"] == {"anthropic": False, "openai": False}
    assert any("SMTP_HOST" in n for n in report["notes"])
