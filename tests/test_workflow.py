"""Workflow graphs of real chords (made inside a task, as the batch tasks do, and from outside)."""
from __future__ import annotations

import pytest
from celery import chord

from app.monitor import workflow
from app.store import history
from app import runtime
from app.ui import workflow_graph
from config.celery_config import celery_app
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")


@celery_app.task(name="tests.wf_item")
def wf_item(i: int) -> int:
    return i * i


@celery_app.task(name="tests.wf_sum")
def wf_sum(values: list) -> int:
    return sum(values)


@celery_app.task(name="tests.wf_batch", bind=True)
def wf_batch(self, n: int) -> str:
    return chord([wf_item.s(i) for i in range(n)])(wf_sum.s()).id


def settled(client, ids) -> bool:
    runtime.get().writer.flush()
    return all((history.get_task(client, i) or {}).get("state") == "SUCCESS" for i in ids)


def test_chord_made_inside_a_task_is_drawn_with_header_and_callback(redis_client):
    batch = celery_app.send_task("tests.wf_batch", args=[3])
    callback_id = batch.get(timeout=30)
    assert celery_app.AsyncResult(callback_id).get(timeout=30) == 0 + 1 + 4
    wait_for(lambda: settled(redis_client, [batch.id, callback_id]), timeout_s=20)
    for start in (callback_id, batch.id):  # the same graph from any of its tasks
        wf = workflow.build(redis_client, start)
        names = sorted(n.get("name") for n in wf.nodes.values())
        assert names == ["tests.wf_batch", "tests.wf_item", "tests.wf_item", "tests.wf_item", "tests.wf_sum"]
        items = [i for i, n in wf.nodes.items() if n["name"] == "tests.wf_item"]
        assert all((batch.id, i) in wf.edges and (i, callback_id) in wf.edges for i in items)
        depth = wf.depths()
        assert depth[batch.id] == 0 and {depth[i] for i in items} == {1} and depth[callback_id] == 2
    fig = workflow_graph.figure(wf, callback_id)
    assert len(fig.data[1].x) == 5 and set(fig.data[1].customdata) == set(wf.nodes)
    assert workflow.build(redis_client, "no-such-task") is None


def test_chord_sent_from_outside_any_task_finds_every_header(redis_client):
    result = chord([wf_item.s(i) for i in range(3)])(wf_sum.s())
    assert result.get(timeout=30) == 5
    wait_for(lambda: settled(redis_client, [result.id]), timeout_s=20)
    wf = workflow.build(redis_client, result.id)
    assert sorted(n.get("name") for n in wf.nodes.values()) == ["tests.wf_item"] * 3 + ["tests.wf_sum"]
    assert all((i, result.id) in wf.edges for i, n in wf.nodes.items() if n["name"] == "tests.wf_item")


def test_task_monitor_detail_draws_the_graph(redis_client):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    result = chord([wf_item.s(i) for i in range(2)])(wf_sum.s())
    result.get(timeout=30)
    wait_for(lambda: settled(redis_client, [result.id]), timeout_s=20)
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30)
    at.session_state["mon_selected_task"] = result.id
    at.run()
    assert not at.exception, at.exception
    assert any("Workflow: 3 tasks" in c.value for c in at.caption)
    assert at.get("plotly_chart")
