"""Failures grouped by cause and the failure-rate counters, written by the history's write script
on real task failures (a real worker on the test Redis), read by the Issues page and the alert rules."""
from __future__ import annotations

import random
import string
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from app.alerts import checks, engine, rules
from app.alerts.rules import Rule
from app.store import failure_groups, history, keys
from app import runtime
from app.store.states import FINISHED_STATES
from config.celery_config import celery_app
from config.celery_settings import QUEUES
from tests.conftest import ROOT, wait_for


@celery_app.task(name="tests.fg_probe")
def fg_probe(kind: str, n: int, tag: str) -> str:
    if kind == "value":
        raise ValueError(f"row {n} of /data/in-{n}.csv is bad ({tag})")
    if kind == "timeout":
        raise TimeoutError(f"no answer after {n * 7} s from 10.0.{n}.1 ({tag})")
    return "ok"


def test_fingerprint_masks_numbers_ids_and_paths():
    a = failure_groups.fingerprint("t", "ValueError", "row 7 of /data/a.csv is bad for 4f9d2c1e-aa00-4b6e-9f00-123456789abc")
    b = failure_groups.fingerprint("t", "ValueError", "row 12 of /data/b.csv is bad for 0f9d2c1e-bb00-4b6e-9f00-ffffffffffff")
    assert a == b and a[1] == "row <n> of <path> is bad for <id>"
    assert failure_groups.fingerprint("t", "KeyError", "row 7 of /data/a.csv is bad")[0] != a[0]
    assert failure_groups.fingerprint("u", "ValueError", "row 7 of /data/a.csv is bad for x")[0] != a[0]
    assert failure_groups.split_exception("ValueError: bad row 7") == ("ValueError", "bad row 7")


def _tag() -> str:
    """Letters only: the normaliser masks numbers and hex ids, so a tag must survive it."""
    return "".join(random.choices(string.ascii_lowercase, k=10))


def _run(calls):
    results = [celery_app.send_task("tests.fg_probe", args=list(c)) for c in calls]
    for r in results:
        r.get(timeout=30, propagate=False)
    # a result is readable a moment before task_postrun records the run: wait for the history
    client = runtime.get().writer.client()
    wait_for(lambda: all((history.get_task(client, r.id) or {}).get("state") in FINISHED_STATES
                         for r in results))
    return results


def _rates(client, name: str) -> tuple[int, int]:
    """(finished, failed) runs of task `name` over the last 3 minutes of counters."""
    counts = checks.Context(client, client, QUEUES, 10.0).rate_counts(180)
    return counts.get(f"T|n|{name}", 0), counts.get(f"F|n|{name}", 0)


@pytest.mark.usefixtures("celery_worker")
def test_two_exceptions_with_varying_numbers_make_two_groups(redis_client):
    tag = _tag()  # one group set per test run (the message keeps the tag)
    t0, f0 = _rates(redis_client, "tests.fg_probe")
    results = _run([("value", n, tag) for n in (3, 17, 250)] + [("timeout", n, tag) for n in (1, 9)]
                   + [("ok", 0, tag)])
    ours = lambda: [g for g in failure_groups.list_groups(redis_client, limit=500) if tag in g["message"]]
    groups = wait_for(lambda: len(ours()) == 2 and sum(g["count"] for g in ours()) == 5 and ours())
    by_type = {g["exc_type"]: g for g in groups}
    assert set(by_type) == {"ValueError", "TimeoutError"}
    value, timeout = by_type["ValueError"], by_type["TimeoutError"]
    assert value["count"] == 3 and timeout["count"] == 2  # each failure counted once (failure + postrun signals)
    assert value["message"] == f"row <n> of <path> is bad ({tag})"
    assert timeout["message"] == f"no answer after <n> s from <n>.<n> ({tag})"
    assert value["name"] == "tests.fg_probe" and set(value["queues"]) == {"default_queue"}
    assert sum(value["workers"].values()) == 3 and sum(value["spark"]) == 3
    value_ids = {r.id for r in results[:3]}
    assert set(failure_groups.group_ids(redis_client, value["fingerprint"])) == value_ids
    assert set(failure_groups.retryable_ids(redis_client, value["fingerprint"])) == value_ids
    example = failure_groups.example(redis_client, value)
    assert example["id"] == value["last_id"] and "Traceback" in example["traceback"]
    assert value["first_at"] <= value["last_at"]
    # the failure-rate counters the alert rules read: 6 finished runs, 5 of them failed, once each
    assert _rates(redis_client, "tests.fg_probe") == (t0 + 6, f0 + 5)
    counts = checks.Context(redis_client, redis_client, QUEUES, 10.0).rate_counts(180)
    assert counts.get("F|q|default_queue", 0) >= 5


@pytest.mark.usefixtures("celery_worker")
def test_failure_rate_rule_fires_on_real_failures_and_recovers(redis_client):
    name = "tests.fg_probe"
    rule = rules.save(redis_client, Rule(name=f"failing {uuid.uuid4().hex[:6]}", kind="failure_rate", params={
        "scope": "task", "target": name, "threshold_pct": 50, "min_runs": 4, "window_s": 180}))
    try:
        total, failed = _rates(redis_client, name)
        # enough failures that more than half of this window's runs failed, whatever ran before
        need = max(4, total - 2 * failed + 1)
        _run([("value", n, "rate") for n in range(need)])
        ctx = lambda: checks.Context(redis_client, redis_client, QUEUES, 10.0, app=celery_app)
        written = engine.evaluate(redis_client, ctx(), [rule])
        assert [e["status"] for e in written] == ["fired"], (written, _rates(redis_client, name))
        assert name in written[0]["subjects"]
        total, failed = _rates(redis_client, name)
        _run([("ok", n, "rate") for n in range(2 * failed - total + 1)])
        written = engine.evaluate(redis_client, ctx(), [rule])
        assert [e["status"] for e in written] == ["resolved"], (written, _rates(redis_client, name))
    finally:
        redis_client.hdel(keys.ALERT_RULES, rule.id)
        redis_client.hdel(keys.ALERT_STATE, rule.id)


@pytest.mark.usefixtures("celery_worker")
def test_issues_page_lists_groups_and_retries_a_group(redis_client):
    tag = _tag()
    results = _run([("value", n, tag) for n in (1, 2)])
    wait_for(lambda: any(tag in g["message"] and g["count"] == 2
                         for g in failure_groups.list_groups(redis_client, limit=500)))
    at = AppTest.from_file(str(ROOT / "pages" / "issues.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert tag in table["message"][0]  # the most recently seen group comes first and is selected
    assert table["exception"][0] == "ValueError" and table["count"][0] == 2
    at.button(key="iss_retry_all").click().run()
    at.button(key="confirm_yes").click().run()
    assert not at.exception, at.exception
    retried = wait_for(lambda: all(redis_client.hget(keys.task(r.id), "retried_as") for r in results))
    assert retried
