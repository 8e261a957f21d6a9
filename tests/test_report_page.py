"""AppTest for the Reports page against real Redis and a real worker: upload, submit, live state,
downloads (MIME type, safe names), bad uploads, and recurring report schedules."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.store import history
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")

CSV = b"day,shop,amount\n2024-03-01,A,10\n2024-03-02,B,12.5\n2024-03-03,A,7\n"


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "reports.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="rep_upload").upload(name, data, "text/csv").run()
    assert not at.exception, at.exception
    return at


def test_upload_submit_and_download(redis_client):
    at = upload(page(), "../../sales <2024>.csv", CSV)
    at.selectbox(key="rep_group").select("shop")
    at.multiselect(key="rep_formats").select("xlsx")
    next(b for b in at.button if b.label == "Create").click().run()
    assert not at.exception, at.exception
    jobs = at.session_state["report_jobs"]
    assert len(jobs) == 1
    entry = wait_for(lambda: (t := history.get_task(redis_client, jobs[0]["id"])) and t["state"] == "SUCCESS" and t,
                     timeout_s=60)
    assert entry["queue"] == "reports_queue"
    at.run()
    assert not at.exception, at.exception
    assert any(m.label == "Rows" and m.value == "3" for m in at.metric)
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert set(buttons) == {"Download HTML", "Download XLSX"}
    assert buttons["Download XLSX"].url.endswith(".xlsx") and buttons["Download HTML"].url.endswith(".html")


def test_formats_offered_are_the_ones_the_report_writes():
    at = upload(page(), "sales.csv", CSV)
    assert at.multiselect(key="rep_formats").options == ["html", "xlsx", "docx", "pdf", "json"]
    at.selectbox(key="rep_kind").select("Export data").run()
    assert not at.exception, at.exception
    export = at.multiselect(key="rep_formats_export_data")
    assert export.options == ["csv", "xlsx", "json", "xml"] and export.value == ["csv"]
    assert not any(s.key == "rep_group" for s in at.selectbox)  # grouping does not apply to an export


def test_download_names_and_mime_types(data_dir):
    from app.ui.report_results import download_spec

    out = data_dir / "outputs" / "job1"
    out.mkdir(parents=True, exist_ok=True)
    for ext, mime in [("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                      ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                      ("pdf", "application/pdf"), ("html", "text/html"), ("csv", "text/csv"),
                      ("xml", "application/xml"), ("json", "application/json")]:
        (out / f"report.{ext}").write_text("x")
        _, name, got = download_spec(str(out / f"report.{ext}"), '..\\evil/"sales"<1>.csv')
        assert got == mime
        assert name == f"sales_1.{ext}"
        assert download_spec(str(out / f"report.{ext}"), "Export of Q3 sales.csv (csv)")[1] == f"Export of Q3 sales.{ext}"
    with pytest.raises(Exception, match="outside the data directory"):
        download_spec("/etc/passwd", "x")


def test_non_tabular_upload_is_refused(corpus):
    at = upload(page(), "data.csv", (corpus / "pdf" / "google-docs_text_image.pdf").read_bytes())
    assert any("not csv / json / text / xlsx" in e.value for e in at.error)
    assert not any(b.label == "Create" for b in at.button)
    assert at.session_state["report_jobs"] == []


def test_recurring_report_schedule_list_pause_delete(celery_app):
    from app import schedules

    at = upload(page(), "sales.csv", CSV)
    at.text_input(key="rep_sched_name").input("sales every day")
    next(b for b in at.button if b.label == "Schedule this report").click().run()
    assert not at.exception, at.exception
    assert any("scheduled" in s.value for s in at.success)
    entry = schedules.get_entry(celery_app, "sales every day")
    assert entry.task == "app.tasks.report_tasks.generate_analytics_report" and entry.crontab == "0 7 * * *"
    assert entry.kwargs["data"]["file_path"].endswith(".csv")
    frame = next(df.value for df in at.dataframe if "schedule" in df.value.columns)
    assert list(frame["name"]) == ["sales every day"] and bool(frame["enabled"].iloc[0])
    at.button(key="rep_sched_toggle").click().run()
    assert not at.exception and schedules.get_entry(celery_app, "sales every day").enabled is False
    at.button(key="rep_sched_delete").click().run()
    assert not at.exception and schedules.get_entry(celery_app, "sales every day") is None
    assert any("No recurring reports" in c.value for c in at.caption)


def test_performance_report_from_page(redis_client):
    at = page()
    next(b for b in at.button if b.label == "Create performance report").click().run()
    assert not at.exception
    job = at.session_state["report_jobs"][0]
    wait_for(lambda: (t := history.get_task(redis_client, job["id"])) and t["state"] == "SUCCESS", timeout_s=60)
    at.run()
    assert not at.exception
    assert any(b.proto.label == "Download HTML" for b in at.get("download_button"))
