"""Report services without a worker: chunked export with progress, periods, Unicode workbooks, the
AI summary when the provider is down."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.errors import InvalidInput, ServiceUnavailable
from app.reports import analysis, export, loading, performance


def test_csv_export_streams_in_chunks_with_progress(tmp_path):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"id": range(2_500), "x": rng.normal(size=2_500), "tag": rng.choice(["a", "é"], 2_500)})
    src = tmp_path / "big.csv"
    df.to_csv(src, index=False)
    steps = []
    out = tmp_path / "out.csv"
    summary = export.export({"file_path": str(src)}, "csv", out, resolve_path=Path, max_records=10,
                            max_rows=10_000, chunk_rows=1_000, on_step=lambda *a: steps.append(a[:2]))
    assert steps == [(1_000, 2_500), (2_000, 2_500), (2_500, 2_500)]
    assert summary == {"rows": 2_500, "columns": ["id", "x", "tag"], "format": "csv"}
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["x"]) for r in rows] == list(df["x"])  # full precision, no rounding
    assert [r["tag"] for r in rows] == list(df["tag"])


def test_export_over_row_limit_leaves_no_partial_file(tmp_path):
    src = tmp_path / "rows.csv"
    pd.DataFrame({"a": range(300)}).to_csv(src, index=False)
    out = tmp_path / "out.json"
    with pytest.raises(InvalidInput, match="more than 200 rows"):
        export.export({"file_path": str(src)}, "json", out, resolve_path=Path, max_records=10, max_rows=200,
                      chunk_rows=100)
    assert not out.exists()


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("24h", 86_400), ("7d", 604_800), ("1w", 604_800),
                                           ("day", 86_400), (90, 90)])
def test_parse_period(text, seconds):
    assert performance.parse_period(text) == seconds


@pytest.mark.parametrize("bad", ["0h", "soon", "", -5, True])
def test_parse_period_rejects(bad):
    with pytest.raises(InvalidInput):
        performance.parse_period(bad)


def test_japanese_workbook_and_semicolon_csv(corpus, tmp_path):
    df = loading.load({"file_path": str(corpus / "xlsx" / "excel2007_japanese_text.xlsx")}, Path, 10, 1_000)
    assert list(df.columns) == ["RecordSpec", "Name", "CompanyName", "Comment"] and df.iloc[0]["Name"] == "豊田"
    a = analysis.analyse(df, analysis.ReportOptions(group_by="Name"))
    assert a.groups["rows"].sum() == len(df)
    semi = tmp_path / "semi.csv"
    semi.write_bytes("name;amount\nKöln;1,5\nWien;2\n".encode("cp1252"))
    df = loading.load({"file_path": str(semi)}, Path, 10, 1_000)
    assert list(df.columns) == ["name", "amount"] and df["name"].tolist() == ["Köln", "Wien"]


def test_ai_summary_when_provider_down(fake_ai):
    from app.reports import executive

    fake_ai.default = dict(status=500)
    df = pd.DataFrame({"a": [1.0, 2.0]})
    a = analysis.analyse(df, analysis.ReportOptions())
    with pytest.raises(ServiceUnavailable):
        executive.executive_section(a, "openai")
    section, status = executive.executive_section(a, "openai", degrade=True)
    assert status["status"] == "missing" and "could not be reached" in status["reason"]
    assert section.paragraphs[0].startswith("No executive summary")
