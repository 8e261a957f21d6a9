"""Exports keep formula-looking text as text: XLSX cells stay strings, CSV cells get the OWASP prefix."""
from __future__ import annotations

import csv

import openpyxl
import pytest

pytestmark = pytest.mark.usefixtures("celery_worker")
HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1)", "plain"]


def test_formula_looking_text_is_not_a_formula(celery_app):
    records = [{"name": text, "amount": -5} for text in HOSTILE]
    xlsx = celery_app.send_task("app.tasks.report_tasks.export_data",
                                kwargs={"data": {"records": records}, "format": "xlsx"}).get(timeout=60)
    sheet = openpyxl.load_workbook(xlsx["outputs"]["xlsx_file"]).active
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == HOSTILE
    assert all(c.data_type == "s" for c in cells)
    assert [row[1].value for row in sheet.iter_rows(min_row=2)] == [-5] * len(HOSTILE)
    out = celery_app.send_task("app.tasks.report_tasks.export_data",
                               kwargs={"data": {"records": records}, "format": "csv"}).get(timeout=60)
    with open(out["outputs"]["csv_file"], encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["'" + t for t in HOSTILE[:4]] + ["plain"]
    assert [r["amount"] for r in rows] == ["-5"] * len(HOSTILE)
