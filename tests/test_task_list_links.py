"""The Task Monitor's task list as people use it: a link per task (``?task=<id>``), the filters in the
URL, paging through the whole filtered history (older/newer, jump to a time) and the CSV export
(formula-safe, redacted). AppTest on the real page, history written to the session's Redis."""
from __future__ import annotations

import csv
import math
import io
import time
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from app.store import history, writer
from app.ui import task_export
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "task_monitor.py")


@pytest.fixture()
def many(redis_client):
    """130 finished tasks of one fresh name, three at each first-seen second (ties a cursor must not
    split), the oldest an hour ago: ``(name, ids newest first, base time)``."""
    name = f"app.tests.links_{uuid.uuid4().hex[:8]}"
    base = time.time() - 3600
    changes = [(f"{name}-{i:03d}", "SUCCESS", {"args": f"['{i}']", "kwargs": "{}"}, base + i // 3, {"name": name})
               for i in range(130)]
    writer.write_batch(redis_client, changes)
    return name, [f"{name}-{i:03d}" for i in range(129, -1, -1)], base


def _rows(at) -> list[str]:
    frame = next(df.value for df in at.dataframe if {"id", "state", "result"} <= set(df.value.columns))
    return list(frame["id"])


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def test_a_task_link_opens_its_detail_with_a_copyable_link(many):
    _, ids, _ = many
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["task"] = ids[7]
    at.run()
    assert not at.exception, at.exception
    where = next(df.value for df in at.dataframe if "task id" in df.value.columns)
    assert where.iloc[0]["task id"] == ids[7]
    assert any(c.value.endswith(f"/?task={ids[7]}") for c in at.code)
    assert at.session_state["mon_tab"] == "Tasks"  # the link opens the list's tab


def test_filters_come_from_the_url_and_go_back_into_it(many):
    name, ids, _ = many
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params.update({"name": name, "state": "SUCCESS", "period": "24h", "q": ids[5], "worker": "no-such@host"})
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="mon_name").value == name and at.selectbox(key="mon_state").value == "SUCCESS"
    assert at.selectbox(key="mon_period").value == "last 24 h"
    assert at.selectbox(key="mon_worker").value == "any"  # a value the box does not offer is dropped
    assert _rows(at) == [ids[5]]  # the search box holds a task id
    at.selectbox(key="mon_state").set_value("any").run()
    assert at.query_params["name"] == name and "state" not in at.query_params
    assert at.query_params["period"] == "24h" and at.query_params["q"] == ids[5]


def test_older_and_newer_page_through_the_whole_filtered_history(many):
    name, ids, base = many
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["name"] = name
    at.run()
    seen = [_rows(at)]
    assert seen[0] == ids[:50] and _button(at, "mon_newer").disabled
    for _ in range(2):
        _button(at, "mon_older").click().run()
        assert not at.exception, at.exception
        seen.append(_rows(at))
    assert seen[1] == ids[50:100] and seen[2] == ids[100:]
    assert _button(at, "mon_older").disabled  # the oldest page
    _button(at, "mon_newer").click().run()
    assert _rows(at) == ids[50:100]
    _button(at, "mon_newest").click().run()
    assert _rows(at) == ids[:50]
    # jump to a time: the list starts at the tasks first seen at or before it
    jump = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(math.ceil(base + 10)))  # whole seconds, UTC
    at.text_input(key="mon_until").input(jump).run()
    assert _rows(at) == [f"{name}-{i:03d}" for i in range(32, -1, -1)]
    assert at.query_params["until"]
    at.text_input(key="mon_until").input("yesterday-ish").run()
    assert any("Jump to" in w.value for w in at.warning)


def test_csv_export_of_the_filtered_list_is_formula_safe_and_redacted(redis_client):
    name = f"app.tests.export_{uuid.uuid4().hex[:8]}"
    now = time.time()
    nasty = {"args": "['=HYPERLINK(\"http://x\")', '+1', '@SUM(A1)']", "kwargs": "{'password': 'hunter2'}",
             "exception": "-ValueError: token=abc123secret"}
    writer.write_batch(redis_client, [(f"{name}-a", "FAILURE", nasty, now - 5, {"name": name}),
                                      (f"{name}-b", "SUCCESS", {"result": "=1+1"}, now - 4, {"name": name})])
    data, n = task_export.csv_bytes(redis_client, history.TaskFilter(name=name))
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert n == 2 and [r["id"] for r in rows] == [f"{name}-b", f"{name}-a"]
    assert rows[0]["result"] == "'=1+1"
    assert rows[1]["exception"].startswith("'-ValueError") and "abc123secret" not in data.decode()
    assert "hunter2" not in data.decode()
    for cell in (c for r in rows for c in r.values()):
        assert not cell.startswith(("=", "+", "-", "@")), cell
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.query_params["name"] = name
    at.run()
    _button(at, "mon_export").click().run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("2 task(s)") for c in at.caption)
