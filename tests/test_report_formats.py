"""Analytics reports through a real worker, each format read back by an independent reader and its
numbers checked against pandas on the same CSV."""
from __future__ import annotations

import json
import re
from pathlib import Path

import docx
import numpy as np
import openpyxl
import pandas as pd
import pypdf
import pytest

from app.reports.document import fmt

pytestmark = pytest.mark.usefixtures("celery_worker")

REGIONS = ["north", "south", "east", "Zürich <&>"]


def run(task, timeout_s=90, **kwargs):
    result = task.apply_async(kwargs=kwargs)
    result.get(timeout=timeout_s, propagate=False)
    return result


@pytest.fixture(scope="module")
def sales_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(7)
    n = 240
    df = pd.DataFrame({
        "date": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "region": rng.choice(REGIONS, n),
        "sales": rng.normal(100, 20, n).round(2),
        "units": rng.integers(1, 50, n),
    })
    path = tmp_path_factory.mktemp("reports") / "sales.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def summary_run(sales_csv, data_dir):
    from app.files import storage
    from app.tasks.report_tasks import generate_analytics_report

    stored = storage.save_upload(data_dir, "sales.csv", sales_csv.read_bytes(), 10**8).path
    res = run(generate_analytics_report, data={"file_path": str(stored)}, report_type="summary",
              format="html,xlsx,docx,pdf,json", group_by="region", title="Sales")
    assert res.state == "SUCCESS", res.traceback
    return res.result


@pytest.fixture(scope="module")
def expected(sales_csv):
    df = pd.read_csv(sales_csv)
    return {"df": df, "describe": df[["sales", "units"]].describe(),
            "sums": df.groupby("region")["sales"].sum(), "counts": df["region"].value_counts(),
            "months": df.groupby(pd.to_datetime(df["date"]).dt.to_period("M"))["sales"].sum()}


def test_result_shape_follows_seed(summary_run, expected):
    out = summary_run["outputs"]
    assert set(out) == {"html_file", "xlsx_file", "docx_file", "pdf_file", "json_file"}
    assert all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in out.values())
    s = summary_run["summary"]
    assert s["rows"] == len(expected["df"]) and s["columns"] == 4
    assert s["totals"]["sales"] == pytest.approx(expected["df"]["sales"].sum())
    assert s["date_column"] == "date" and s["trend_period"] == "month"


def test_json_numbers_equal_pandas(summary_run, expected):
    doc = json.loads(Path(summary_run["outputs"]["json_file"]).read_text(encoding="utf-8"))
    tables = {t["caption"]: t for sec in doc["sections"] for t in sec["tables"]}
    stats = {r["column"]: r for r in tables["Descriptive statistics"]["rows"]}
    for col in ("sales", "units"):
        for stat in ("count", "mean", "std", "min", "25%", "50%", "75%", "max"):
            assert stats[col][stat] == pytest.approx(expected["describe"].loc[stat, col], rel=1e-12)
    groups = {r["region"]: r for r in tables["Per region"]["rows"]}
    assert set(groups) == set(REGIONS)
    for region, total in expected["sums"].items():
        assert groups[region]["sales sum"] == pytest.approx(total, rel=1e-12)
        assert groups[region]["rows"] == expected["counts"][region]
    months = {r["month"]: r["sales sum"] for r in tables["Per month"]["rows"]}
    assert months == pytest.approx({str(k): v for k, v in expected["months"].items()})


def test_xlsx_summary_sheet_native_charts_and_data(summary_run, expected):
    wb = openpyxl.load_workbook(summary_run["outputs"]["xlsx_file"])
    assert wb.sheetnames == ["Summary", "Charts", "Data"]
    rows = list(wb["Summary"].iter_rows(values_only=True))
    header = rows.index(next(r for r in rows if r[:3] == ("column", "count", "missing")))
    names = list(rows[header])
    for r in rows[header + 1: header + 3]:
        col = r[0]
        assert r[names.index("mean")] == pytest.approx(expected["describe"].loc["mean", col], rel=1e-12)
        assert r[names.index("std")] == pytest.approx(expected["describe"].loc["std", col], rel=1e-12)
        assert r[names.index("sum")] == pytest.approx(expected["df"][col].sum(), rel=1e-12)
    start = rows.index(("region", "rows", "sales sum", "sales mean", "units sum", "units mean") + (None,) * 5)
    group_rows = {r[0]: r for r in rows[start + 1: start + 1 + len(REGIONS)]}
    for region, total in expected["sums"].items():
        assert group_rows[region][2] == pytest.approx(total, rel=1e-12)
    charts = wb["Charts"]._charts
    kinds = {type(c).__name__ for c in charts}
    assert len(charts) == 4 and kinds == {"BarChart", "LineChart"}  # 2 histograms, group, trend
    data = list(wb["Data"].iter_rows(values_only=True))
    assert list(data[0]) == ["date", "region", "sales", "units"] and len(data) == len(expected["df"]) + 1
    assert [r[2] for r in data[1:]] == pytest.approx(list(expected["df"]["sales"]))


def test_docx_headings_tables_and_chart_images(summary_run, expected):
    d = docx.Document(summary_run["outputs"]["docx_file"])
    headings = [p.text for p in d.paragraphs if p.style.name.startswith("Heading") or p.style.name == "Title"]
    assert headings[:3] == ["Sales", "Overview", "Numeric columns"]
    assert "By region" in headings and "Trend per month" in headings
    stats = next(t for t in d.tables if t.rows[0].cells[0].text == "column" and t.rows[0].cells[1].text == "count")
    cols = [c.text for c in stats.rows[0].cells]
    for row in stats.rows[1:]:
        col = row.cells[0].text
        assert float(row.cells[cols.index("mean")].text) == pytest.approx(expected["describe"].loc["mean", col], abs=1e-4)
        assert row.cells[cols.index("sum")].text == fmt(expected["df"][col].sum())
    group = next(t for t in d.tables if t.rows[0].cells[0].text == "region")
    got = {r.cells[0].text: float(r.cells[2].text) for r in group.rows[1:]}
    assert got == pytest.approx(expected["sums"].to_dict(), abs=1e-4)
    assert len(d.inline_shapes) == 4


def test_pdf_is_real_and_holds_the_numbers(summary_run, expected):
    reader = pypdf.PdfReader(summary_run["outputs"]["pdf_file"])
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Descriptive statistics" in text and "Zürich <&>" in text
    for col in ("sales", "units"):
        assert fmt(expected["describe"].loc["mean", col]) in text
        assert fmt(expected["describe"].loc["std", col]) in text
    for total in expected["sums"]:
        assert fmt(total) in text
    assert sum(len(p.images) for p in reader.pages) == 4


def test_html_is_self_contained_with_chart_data_and_escaped_text(summary_run, expected):
    html = Path(summary_run["outputs"]["html_file"]).read_text(encoding="utf-8")
    assert html.count("Plotly.newPlot(") == 4
    assert not re.search(r"<script[^>]+src=", html), "plotly.js must be inlined"
    assert "Zürich <&>" not in html and "Zürich &lt;&amp;&gt;" in html
    calls = re.findall(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*\{"template"', html, re.S)
    traces = [t for c in calls for t in json.loads(c)]
    group = next(t for t in traces if t.get("name") == "sales sum" and t["type"] == "bar")
    assert dict(zip(group["x"], group["y"])) == pytest.approx(expected["sums"].to_dict())
    trend = next(t for t in traces if t["type"] == "scatter" and t.get("name") == "sales sum")
    assert trend["y"] == pytest.approx(list(expected["months"].values))
    summary = re.search(r'id="report-summary">(.*?)</script>', html, re.S).group(1)
    assert json.loads(summary)["rows"] == len(expected["df"])


def test_trend_and_detailed_reports(sales_csv, stored, expected):
    from app.tasks.report_tasks import generate_analytics_report

    path = stored(sales_csv)
    trend = run(generate_analytics_report, data={"file_path": path}, report_type="trend", format="json",
                date_column="date", value_columns=["sales"])
    assert trend.state == "SUCCESS", trend.traceback
    doc = json.loads(Path(trend.result["outputs"]["json_file"]).read_text(encoding="utf-8"))
    rows = next(t for s in doc["sections"] for t in s["tables"] if t["caption"] == "Per month")["rows"]
    change = expected["months"].pct_change() * 100
    assert [r["sales change %"] for r in rows[1:]] == pytest.approx(list(change.values[1:]))

    detailed = run(generate_analytics_report, data={"file_path": path}, report_type="detailed",
                   format=["json", "xlsx"])
    assert detailed.state == "SUCCESS", detailed.traceback
    doc = json.loads(Path(detailed.result["outputs"]["json_file"]).read_text(encoding="utf-8"))
    tables = {t["caption"]: t for s in doc["sections"] for t in s["tables"]}
    corr = {r["column"]: r for r in tables["Correlation"]["rows"]}
    assert corr["sales"]["units"] == pytest.approx(expected["df"]["sales"].corr(expected["df"]["units"]))
    assert len(tables["Rows"]["rows"]) == min(len(expected["df"]), 200)


def test_inline_records_as_in_seed():
    from app.tasks.report_tasks import generate_analytics_report

    records = [{"team": "a", "score": 1.5}, {"team": "b", "score": 2.5}, {"team": "a", "score": 4}]
    res = run(generate_analytics_report, data={"records": records}, report_type="summary", format="html")
    assert res.state == "SUCCESS", res.traceback
    assert Path(res.result["outputs"]["html_file"]).is_file()
    assert res.result["summary"]["totals"] == {"score": 8.0}
