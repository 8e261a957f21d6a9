"""The task list in a real browser: a task's link opened in a new page shows its detail, the list pages
back past the first 50 of a filter given in the URL, and the CSV export downloads every matching
task, read back with pandas."""
from __future__ import annotations

import time
import uuid

import pandas as pd
import pytest

from app.store import writer

pytestmark = pytest.mark.browser


def test_task_link_paging_and_csv_export(stack, page, tmp_path):
    name = f"app.tests.browse_{uuid.uuid4().hex[:8]}"
    base = time.time() - 600
    ids = [f"{name}-{i:03d}" for i in range(130)]
    writer.write_batch(stack["client"],
                       [(tid, "SUCCESS", {"args": f"=cmd|{i}", "kwargs": "{}"}, base + i, {"name": name})
                        for i, tid in enumerate(ids)])

    linked = page.context.new_page()  # a new page (tab) of the signed-in browser
    linked.set_default_timeout(60_000)
    linked.goto(f"{stack['url']}/?task={ids[7]}")
    linked.get_by_text(f"/?task={ids[7]}").first.wait_for()  # the detail's copyable link
    linked.get_by_text("Timeline").first.wait_for()

    linked.goto(f"{stack['url']}/?name={name}")
    linked.get_by_text("50 task(s) shown").first.wait_for()
    for n, shown in ((2, 50), (3, 30)):
        linked.get_by_role("button", name="Older").click()
        linked.get_by_text(f"Page {n} (older").wait_for()
        linked.get_by_text(f"{shown} task(s) shown").first.wait_for()
    assert linked.get_by_role("button", name="Older").is_disabled()

    linked.get_by_role("button", name="Export CSV").click()
    with linked.expect_download() as download:
        linked.get_by_role("button", name="Download tasks.csv").click()
    path = tmp_path / "tasks.csv"
    download.value.save_as(path)
    frame = pd.read_csv(path)
    assert list(frame["id"]) == ids[::-1] and set(frame["name"]) == {name}
    assert all(cell == f"'=cmd|{i}" for cell, i in zip(frame["args"], range(129, -1, -1)))  # never a formula
    linked.close()
