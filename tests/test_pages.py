"""AppTest for the File Processing and Task Monitor pages against real Redis and a real worker."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.store import history
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")


def test_file_processing_upload_runs_task_and_shows_outputs(corpus, redis_client):
    at = AppTest.from_file(str(ROOT / "pages" / "file_processing.py"), default_timeout=30).run()
    assert not at.exception
    data = (corpus / "docx" / "google-docs_no_docprops.docx").read_bytes()
    at.file_uploader[0].upload("notes.docx", data, "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    at.button[0].click().run()
    assert not at.exception, at.exception
    jobs = at.session_state["file_jobs"]
    assert len(jobs) == 1 and jobs[0]["name"] == "notes.docx"
    wait_for(lambda: (t := history.get_task(redis_client, jobs[0]["id"])) and t["state"] == "SUCCESS")
    at.run()
    assert not at.exception
    assert any(m.label == "Words" and m.value == "305" for m in at.metric)
    assert "notes.docx" in " ".join(md.value for md in at.markdown)


def test_file_processing_rejects_non_docx_content(corpus):
    at = AppTest.from_file(str(ROOT / "pages" / "file_processing.py"), default_timeout=30).run()
    pdf = (corpus / "pdf" / "google-docs_text_image.pdf").read_bytes()
    at.file_uploader[0].upload("report.docx", pdf, "application/octet-stream")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["file_jobs"] == []
    assert any("not docx" in e.value for e in at.error)


def test_task_monitor_shows_queues_workers_and_tasks(redis_client):
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    figures = " ".join(m.value.replace("\\", "") for m in at.markdown)  # the queue cells (markdown)
    assert all(label in figures for label in ("email_queue", "file_processing_queue", "ai_queue", "reports_queue",
                                              "default_queue", "reserved / unacked"))
    health = next(b for b in at.button if b.label == "Send health check")
    health.click().run()
    assert not at.exception
    wait_for(lambda: history.list_tasks(redis_client, history.TaskFilter(
        name="app.tasks.maintenance_tasks.health_check", state="SUCCESS"), limit=1))
    at.run()
    frames = [df.value for df in at.dataframe]
    tasks = next(f for f in frames if "state" in f.columns)
    row = tasks[tasks["name"] == "app.tasks.maintenance_tasks.health_check"].iloc[0]
    assert row["queue"] == "default_queue" and row["state"] == "SUCCESS"
    workers = next(f for f in frames if "worker" in f.columns and "pool" in f.columns)
    # other tests' workers (foreign apps) may still be listed: one of the rows serves default_queue
    assert any("default_queue" in q for q in workers["queues"])


def test_task_monitor_lookup_unknown_id():
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30).run()
    at.text_input(key="lookup_id").input("no-such-task").run()
    assert not at.exception
    assert any("Unknown task id" in i.value for i in at.info)


def test_task_monitor_banner_when_redis_down(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    from config.settings import get_settings
    get_settings.cache_clear()
    try:
        at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30).run()
        assert not at.exception
        assert any("Redis is unreachable" in e.value for e in at.error)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_no_page_line_is_written_out_by_streamlit_magic():
    """A bare expression on its own line (`a() if ok else b()`) is written to the page by Streamlit's
    magic: the value, often a stray `None`. Calls and the docstring are left alone by magic."""
    import ast

    stray = []
    for path in sorted((ROOT / "pages").glob("*.py")) + [ROOT / "streamlit_app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Expr) and not isinstance(node.value, (ast.Call, ast.Constant, ast.Await)):
                stray.append(f"{path.name}:{node.lineno}")
    assert stray == []


@pytest.mark.parametrize("page", ["email.py", "ai.py"])
def test_email_and_ai_forms_show_no_stray_none(page):
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=30).run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.text]
    assert not [v for v in shown if v.strip().strip("`") in ("None", "null")], shown
