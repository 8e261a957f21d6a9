"""`ConsoleTask.progress_every`: per-step progress of quick work is not stored when steps come
closer than the interval; a step reached after it is reported (with a real worker: a small .docx
through process_word_document stores at most one PROGRESS state per interval of its run)."""
from __future__ import annotations

import time

from app.tasks.base import PROGRESS_MIN_INTERVAL_S, ConsoleTask
from tests.conftest import wait_for


class _Probe(ConsoleTask):
    name = "tests.progress_probe"

    def __init__(self):
        self.reports = []

    def report_progress(self, current, total, message="", **extra):
        self.reports.append((current, total, message))


def test_steps_closer_than_the_interval_are_skipped_and_a_later_one_reported():
    probe = _Probe()
    report = probe.progress_every(0.2)
    report(0, 3, "opening")
    report(1, 3, "count_stats")
    assert probe.reports == []
    time.sleep(0.25)
    report(2, 3, "done")
    assert probe.reports == [(2, 3, "done")]
    report(3, 3, "again")  # within 0.2 s of the last report
    assert probe.reports == [(2, 3, "done")]


def test_a_quick_document_stores_at_most_one_progress_state_per_interval(celery_worker, stored, corpus, redis_client):
    from app.store import history
    from app.tasks.file_tasks import process_word_document

    docx = min((corpus / "docx").glob("*.docx"), key=lambda p: p.stat().st_size)
    result = process_word_document.delay(stored(docx), ["count_stats"])
    out = result.get(timeout=60)
    assert out["status"] == "completed" and out["outputs"]["stats"]["words"] >= 0
    wait_for(lambda: (history.get_task(redis_client, result.id) or {}).get("state") == "SUCCESS")
    states = [e["state"] for e in history.timeline(redis_client, result.id)]
    runtime_s = float(history.get_task(redis_client, result.id)["runtime_s"])
    # three steps ("opening", count_stats, "done"); one may be stored per PROGRESS_MIN_INTERVAL_S of run
    assert states.count("PROGRESS") <= int(runtime_s / PROGRESS_MIN_INTERVAL_S)
