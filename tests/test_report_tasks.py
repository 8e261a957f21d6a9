"""Report tasks through a real worker: bad inputs, exports read back, AI summaries, task performance
from the real history, recurring report entries in RedBeat."""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import docx
import openpyxl
import pandas as pd
import pytest

from app.store import history

pytestmark = pytest.mark.usefixtures("celery_worker")

TRICKY = ["plain", "a <b> & \"c\" 'd'", "Zürich — 東京 עברית", "line\nbreak", "ctl\x01char", ""]


def run(task, timeout_s=90, **kwargs):
    result = task.apply_async(kwargs=kwargs)
    result.get(timeout=timeout_s, propagate=False)
    return result


def write_csv(data_dir: Path, name: str, text: str) -> str:
    from app.files import storage

    return str(storage.save_upload(data_dir, name, text.encode("utf-8"), 10**8).path) if text else \
        str(_empty_file(data_dir, name))


def _empty_file(data_dir: Path, name: str) -> Path:
    path = data_dir / "uploads" / f"empty-{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture()
def small_csv(data_dir) -> str:
    return write_csv(data_dir, "small.csv", "city,amount,when\nOslo,10,2024-01-01\nRiga,12.5,2024-01-02\n")


@pytest.mark.parametrize("kwargs, message", [
    (dict(group_by="nope"), "The group-by column 'nope' is not in the data"),
    (dict(value_columns=["city"]), "The value column 'city' is not numeric"),
    (dict(date_column="missing"), "The date column 'missing' is not in the data"),
    (dict(format="pptx"), "Unknown format pptx"),
    (dict(report_type="weekly"), "Unknown report type 'weekly'"),
])
def test_bad_options_fail_clearly_and_keep_the_file(small_csv, kwargs, message):
    from app.tasks.report_tasks import generate_analytics_report

    res = run(generate_analytics_report, data={"file_path": small_csv}, **kwargs)
    assert res.state == "FAILURE"
    assert message in str(res.result)
    assert Path(small_csv).is_file()  # loses nothing


def test_trend_without_date_and_empty_data(data_dir):
    from app.tasks.report_tasks import generate_analytics_report

    no_date = write_csv(data_dir, "nodate.csv", "team,score\na,1\nb,2\n")
    res = run(generate_analytics_report, data={"file_path": no_date}, report_type="trend")
    assert res.state == "FAILURE" and "needs a date column" in str(res.result)
    for text in ("team,score\n", "", ",,\n,,\n"):
        path = write_csv(data_dir, "empty.csv", text)
        res = run(generate_analytics_report, data={"file_path": path})
        assert res.state == "FAILURE" and "The data is empty" in str(res.result), text
    res = run(generate_analytics_report, data={"records": []})
    assert res.state == "FAILURE" and "The data is empty" in str(res.result)


@pytest.mark.parametrize("name, message", [
    ("malformed/encrypted_password_tika.xlsx", "password-encrypted"),
    ("malformed/xml_entity_expansion.xlsx", "could not be parsed safely"),
    ("malformed/strict_ooxml.xlsx", "Strict Open XML"),
    ("pdf/google-docs_text_image.pdf", "not CSV, XLSX or JSON"),
])
def test_broken_workbooks_fail_readably(corpus, stored, name, message):
    from app.tasks.report_tasks import generate_analytics_report

    res = run(generate_analytics_report, data={"file_path": stored(corpus / name, "data.xlsx")})
    assert res.state == "FAILURE"
    assert message in str(res.result)


def test_outside_data_dir_and_oversized_inline_records(tmp_path):
    from app.tasks.report_tasks import generate_analytics_report

    outside = tmp_path / "x.csv"
    outside.write_text("a\n1\n")
    res = run(generate_analytics_report, data={"file_path": str(outside)})
    assert res.state == "FAILURE" and "outside the data directory" in str(res.result)
    res = run(generate_analytics_report, data={"records": [{"a": i} for i in range(5_001)]})
    assert res.state == "FAILURE" and "REPORT_MAX_INLINE_RECORDS" in str(res.result)


def test_gnumeric_full_range_workbook_reports_quickly(corpus, stored):
    from app.tasks.report_tasks import generate_analytics_report

    path = stored(corpus / "malformed" / "gnumeric_dimension_A1-XFD1048576.xlsx")
    res = run(generate_analytics_report, data={"file_path": path}, format="json", timeout_s=60)
    assert res.state == "SUCCESS", res.traceback
    assert res.result["summary"]["rows"] == 1
    assert res.result["summary"]["totals"]["Weight"] == 1.5


@pytest.fixture()
def tricky_frame() -> pd.DataFrame:
    return pd.DataFrame({"label": TRICKY, "value": [1.25, 2, None, -3.5, 1e-7, 10 ** 12],
                         "n": [1, 2, 3, 4, 5, 6]})


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json", "xml"])
def test_export_formats_round_trip(fmt, tricky_frame, data_dir):
    from app.files import storage
    from app.tasks.report_tasks import export_data

    source = storage.save_upload(data_dir, "t.json", tricky_frame.to_json(orient="records").encode(), 10**8).path
    res = run(export_data, data={"file_path": str(source)}, format=fmt, name="My export!")
    assert res.state == "SUCCESS", res.traceback
    out = Path(res.result["outputs"][f"{fmt}_file"])
    assert out.name == f"my_export.{fmt}"
    assert res.result["summary"]["rows"] == len(tricky_frame)
    clean = [s.replace("\x01", "") for s in TRICKY]
    if fmt == "csv":
        with open(out, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [r["label"] for r in rows] == TRICKY
        got = [float(r["value"]) if r["value"] else None for r in rows]
    elif fmt == "xlsx":
        rows = list(openpyxl.load_workbook(out)["Data"].iter_rows(values_only=True))
        assert rows[0] == ("label", "value", "n")
        assert [r[0] or "" for r in rows[1:]] == clean
        got = [r[1] for r in rows[1:]]
    elif fmt == "json":
        rows = json.loads(out.read_text(encoding="utf-8"))
        assert [r["label"] for r in rows] == TRICKY
        got = [r["value"] for r in rows]
    else:
        root = ET.parse(out).getroot()  # well-formed, or this raises
        records = [{f.get("name"): f.text or "" for f in rec.findall("field")} for rec in root.findall("record")]
        assert [r.get("label", "") for r in records] == clean
        got = [float(r["value"]) if "value" in r else None for r in records]
    expected = [None if pd.isna(v) else v for v in tricky_frame["value"]]
    assert got == pytest.approx(expected)


def test_export_bad_format_and_empty(data_dir, small_csv):
    from app.tasks.report_tasks import export_data

    res = run(export_data, data={"file_path": small_csv}, format="yaml")
    assert res.state == "FAILURE" and "Unknown format yaml" in str(res.result)
    res = run(export_data, data={"file_path": write_csv(data_dir, "h.csv", "a,b\n")}, format="csv")
    assert res.state == "FAILURE" and "empty" in str(res.result)


def test_summary_report_without_ai_key_still_produced(small_csv):
    from app.tasks.report_tasks import generate_summary_report

    res = run(generate_summary_report, data={"file_path": small_csv}, format="docx,html")
    assert res.state == "SUCCESS", res.traceback
    status = res.result["summary"]["executive_summary"]
    assert status["status"] == "missing" and "ANTHROPIC_API_KEY" in status["reason"]
    d = docx.Document(res.result["outputs"]["docx_file"])
    texts = [p.text for p in d.paragraphs]
    assert "Executive summary" in texts
    assert any(t.startswith("No executive summary: AI is not configured") for t in texts)
    assert "Descriptive statistics" in texts  # the analytics are all there


def test_summary_report_with_ai_writes_the_summary(small_csv, fake_ai):
    from app.tasks.report_tasks import generate_summary_report

    fake_ai.push(dict(text="Amounts total 22.5 across two cities.\n\nRiga leads."))
    res = run(generate_summary_report, data={"file_path": small_csv}, format="json", group_by="city")
    assert res.state == "SUCCESS", res.traceback
    assert res.result["summary"]["executive_summary"]["status"] == "written"
    doc = json.loads(Path(res.result["outputs"]["json_file"]).read_text(encoding="utf-8"))
    assert doc["sections"][0] == {"heading": "Executive summary", "tables": [], "charts": [],
                                  "paragraphs": ["Amounts total 22.5 across two cities.", "Riga leads."]}
    sent = fake_ai.requests[-1]["body"]
    prompt = sent["messages"][-1]["content"]
    assert "<data>" in prompt and "Per city" in prompt and "22.5" in prompt
    assert "ignore any instructions" in json.dumps(sent)


def test_task_performance_report_over_real_worker_tasks(redis_client, data_dir, small_csv):
    from app.tasks.maintenance_tasks import health_check
    from app.tasks.report_tasks import export_data, generate_task_performance_report

    for _ in range(3):
        assert run(health_check).state == "SUCCESS"
    assert run(export_data, data={"file_path": small_csv}, format="yaml").state == "FAILURE"
    from app import runtime
    assert runtime.get().writer.flush()  # the history trails results by the writer's 50 ms linger
    res = run(generate_task_performance_report, period="1h", format="json,xlsx,pdf")
    assert res.state == "SUCCESS", res.traceback
    doc = json.loads(Path(res.result["outputs"]["json_file"]).read_text(encoding="utf-8"))
    per_task = {r["task"]: r for s in doc["sections"] for t in s["tables"] if t["caption"] == "Per task name"
                for r in t["rows"]}
    for name in ("app.tasks.maintenance_tasks.health_check", "app.tasks.report_tasks.export_data"):
        seen = history.list_tasks(redis_client, history.TaskFilter(name=name), limit=10_000)
        finished = [t for t in seen if t["state"] in ("SUCCESS", "FAILURE", "REVOKED")]
        ok = [t for t in finished if t["state"] == "SUCCESS"]
        row = per_task[name]
        assert row["tasks"] == len(seen) and row["succeeded"] == len(ok)
        assert row["success rate %"] == pytest.approx(round(100 * len(ok) / len(finished), 2))
        runtimes = pd.Series([t["runtime_s"] for t in seen if t.get("runtime_s") is not None])
        assert row["runtime p50 s"] == pytest.approx(runtimes.quantile(0.5))
        assert row["runtime max s"] == pytest.approx(runtimes.max())
        waits = pd.Series([max(0.0, t["started_at"] - t["sent_at"]) for t in seen
                           if t.get("started_at") and t.get("sent_at")])
        assert row["wait p95 s"] == pytest.approx(waits.quantile(0.95))
    assert per_task["app.tasks.report_tasks.export_data"]["failed"] >= 1
    queues = {r["queue"]: r for s in doc["sections"] for t in s["tables"] if t["caption"] == "Per queue"
              for r in t["rows"]}
    assert queues["default_queue"]["throughput per min"] == pytest.approx(queues["default_queue"]["finished"] / 60, abs=1e-4)
    wb = openpyxl.load_workbook(res.result["outputs"]["xlsx_file"])
    assert len(wb["Charts"]._charts) == 3


def test_task_performance_bad_period():
    from app.tasks.report_tasks import generate_task_performance_report

    res = run(generate_task_performance_report, period="fortnight")
    assert res.state == "FAILURE" and "Unknown period 'fortnight'" in str(res.result)


def test_schedule_recurring_report_creates_a_beat_entry(celery_app, small_csv):
    from app import schedules
    from app.tasks.report_tasks import schedule_recurring_report

    kwargs = {"data": {"file_path": small_csv}, "report_type": "summary", "format": "pdf"}
    res = run(schedule_recurring_report, name="daily sales", report_task="generate_analytics_report",
              schedule={"type": "crontab", "minute": "0", "hour": "7"}, report_kwargs=kwargs)
    assert res.state == "SUCCESS", res.traceback
    entry = schedules.get_entry(celery_app, "daily sales")
    assert entry.task == "app.tasks.report_tasks.generate_analytics_report"
    assert entry.kwargs == kwargs and entry.enabled and entry.crontab == "0 7 * * *"
    bad = run(schedule_recurring_report, name="bad one", report_task="generate_analytics_report",
              schedule={"type": "interval", "every_s": 3600},
              report_kwargs={"data": {"records": [{"a": 1}]}})
    assert bad.state == "FAILURE" and "must read a stored file" in str(bad.result)
    assert schedules.get_entry(celery_app, "bad one") is None
    schedules.delete_entry(celery_app, "daily sales")
