"""AppTest for the views and operator forms on a monitored app other than the console's own.

Forms: worker pool grow/shrink/autoscale, task rate and time limits, terminate with SIGTERM or
SIGKILL. Each must call its action on the chosen app and leave an audit entry naming that app. The
actions themselves are verified on real foreign workers in tests/test_monitor_apps_live.py; here no
worker of app "billing" runs, so each broadcast is answered by nobody ("no worker replied", audited
as such). Views: the Issues and Alerts pages scoped by the app selector, the app named in the task
and failure-group details, the queue table's latency cell for an age that is a lower bound."""
from __future__ import annotations

import time
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from app.access import audit
from app.monitor.event_workers import WorkerRecorder
from app.monitor.queues import QueueDetail
from app.ui.monitor_workers import latency_text
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "task_monitor.py")


@pytest.fixture
def billing(redis_client, redis_url, mail_settings):
    """App "billing" monitored on databases 7/8 of the test Redis, one of its workers online (known
    from its events only); yields that worker's node name."""
    base = redis_url.rsplit("/", 1)[0]
    mail_settings(MONITOR_APPS=f"billing={base}/7|{base}/8|invoices,refunds")
    host = f"bill-{uuid.uuid4().hex[:8]}@h"
    WorkerRecorder(redis_client, "billing").on_event({"type": "worker-heartbeat", "hostname": host,
                                                      "timestamp": time.time(), "freq": 60.0})
    yield host


def _page(app_name: str = "billing") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["cc_monitored_app"] = app_name
    at.run()
    assert not at.exception, at.exception
    return at


def _confirm(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Confirm").click().run()
    assert not at.exception, at.exception


def _audit(client, action: str, target: str) -> dict:
    return next(e for e in audit.recent(client, 100) if e["action"] == action and e["target"] == target)


def test_worker_list_is_the_chosen_app_s_and_autoscale_and_pool_size_go_to_it(redis_client, billing):
    at = _page()
    host_box = at.selectbox(key="wa_host")
    assert host_box.options == [f"{billing} (billing)"]  # only billing's workers, named with their app
    at.selectbox(key="wa_action").select("autoscale").run()
    at.number_input(key="wa_min").set_value(2)
    at.number_input(key="wa_max").set_value(6).run()
    next(b for b in at.button if b.label == "Apply…").click().run()
    assert any(f"autoscale between 2 and 6 processes on {billing} (app billing)" in w.value for w in at.warning)
    _confirm(at)
    entry = _audit(redis_client, "pool_autoscale", billing)
    assert (entry["detail"]["app"], entry["detail"]["max"], entry["detail"]["min"]) == ("billing", 6, 2)
    assert entry["outcome"] == "no worker replied"

    at.selectbox(key="wa_action").select("pool shrink").run()
    at.number_input(key="wa_n").set_value(3).run()
    next(b for b in at.button if b.label == "Apply…").click().run()
    _confirm(at)
    entry = _audit(redis_client, "pool_shrink", billing)
    assert (entry["detail"]["app"], entry["detail"]["n"]) == ("billing", 3)


def test_rate_and_time_limits_are_set_on_the_chosen_app(redis_client, billing):
    from app import runtime
    from app.store.writer import StateChange

    runtime.get().writer.record(StateChange(str(uuid.uuid4()), "SUCCESS", time.time(), name="billing.refund",
                                            fields={"app": "billing"}, source="events"), sync=True)
    at = _page()
    at.selectbox(key="tl_task").select("billing.refund")
    at.text_input(key="tl_rate").set_value("7/m")
    next(b for b in at.button if b.label == "Set rate limit…").click().run()
    _confirm(at)
    name = at.selectbox(key="tl_task").value
    entry = _audit(redis_client, "rate_limit", name)
    assert (entry["detail"]["app"], entry["detail"]["rate"]) == ("billing", "7/m")

    at.number_input(key="tl_soft").set_value(5.0)
    at.number_input(key="tl_hard").set_value(10.0)
    next(b for b in at.button if b.label == "Set time limits…").click().run()
    assert any(f"Set time limits of {name} on app billing: soft 5 s, hard 10 s" in w.value for w in at.warning)
    _confirm(at)
    entry = _audit(redis_client, "time_limit", name)
    assert (entry["detail"]["app"], entry["detail"]["soft_s"], entry["detail"]["hard_s"]) == ("billing", 5.0, 10.0)
    assert entry["outcome"] == "no worker replied"

    at.number_input(key="tl_soft").set_value(20.0)  # soft above hard: refused, audited
    next(b for b in at.button if b.label == "Set time limits…").click().run()
    _confirm(at)
    assert any("above the hard limit" in e.value for e in at.error)


def test_task_detail_names_the_app_and_kills_with_sigkill_on_it(redis_client, billing):
    from app import runtime
    from app.store.writer import StateChange

    tid = str(uuid.uuid4())
    runtime.get().writer.record(StateChange(tid, "STARTED", time.time(), name="billing.charge", worker=billing,
                                            fields={"app": "billing"}, source="events"), sync=True)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["mon_selected_task"] = tid
    at.run()
    assert not at.exception, at.exception
    where = next(df.value for df in at.dataframe if "task id" in df.value.columns)
    assert list(where["app"]) == ["billing"]
    assert {"Terminate (SIGTERM)", "Kill (SIGKILL)"} <= {b.label for b in at.button}
    next(b for b in at.button if b.label == "Kill (SIGKILL)").click().run()
    assert any(f"Terminate running task {tid} on app billing (SIGKILL)" in w.value for w in at.warning)
    _confirm(at)
    entry = _audit(redis_client, "terminate", tid)
    assert (entry["detail"]["app"], entry["detail"]["signal"]) == ("billing", "SIGKILL")


def test_latency_cell_marks_a_lower_bound():
    assert latency_text(QueueDetail("q", ready=3, latency_s=12.04, latency_lower_bound=True)) == "≥ 12.0 s"
    assert latency_text(QueueDetail("q", ready=3, latency_s=12.04)) == "12.0 s"
    assert latency_text(QueueDetail("q", ready=0)) == "—"
    assert latency_text(QueueDetail("q", ready=3, latency_s=None, unknown={"latency_s": "no header"})) == "unknown"


def _fail(tid: str, name: str, message: str, app: str | None) -> None:
    from app import runtime
    from app.store.writer import StateChange

    runtime.get().writer.record(StateChange(tid, "FAILURE", time.time(), name=name, exception=f"ValueError: {message}",
                                            fields={"app": app} if app else {},
                                            source="events" if app else "signals"), sync=True)


def test_failure_groups_count_their_apps_and_the_issues_page_is_scoped(redis_client, billing):
    from app.store import failure_groups

    tag = uuid.uuid4().hex[:8]
    shared, own_only = f"shared.{tag}", f"own.{tag}"
    ids = {k: str(uuid.uuid4()) for k in ("b1", "b2", "c1", "c2")}
    _fail(ids["b1"], shared, "no ledger 12", "billing")
    _fail(ids["b2"], shared, "no ledger 13", "billing")
    _fail(ids["c1"], shared, "no ledger 14", None)  # same cause on the console's own app: same group
    _fail(ids["c2"], own_only, "bad row 1", None)
    ours = lambda app=None: {g["name"]: g for g in failure_groups.list_groups(redis_client, 500, app=app)
                             if tag in g["name"]}
    assert ours()[shared]["apps"] == {"billing": 2, "console": 1}
    assert ours()[own_only]["apps"] == {"console": 1}
    assert set(ours("billing")) == {shared} and set(ours("console")) == {shared, own_only}
    fp = ours()[shared]["fingerprint"]
    assert set(failure_groups.retryable_ids(redis_client, fp, app="billing")) == {ids["b1"], ids["b2"]}

    at = AppTest.from_file(str(ROOT / "pages" / "issues.py"), default_timeout=60)
    at.session_state["cc_monitored_app"] = "billing"
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="cc_monitored_app").value == "billing"
    table = at.dataframe[0].value
    assert own_only not in set(table["task"])  # the console's own failure is not billing's
    assert table["task"][0] == shared and table["apps"][0] == "billing, console"  # newest of billing's: shown
    assert any("Apps: billing (2), console (1)" in c.value for c in at.caption)
    assert next(m for m in at.metric if m.label == "Still failed").value == "2"  # billing's only


def test_alerts_page_shows_the_chosen_app_s_rules_and_events(redis_client, billing):
    from app.alerts import events, rules
    from app.store import keys

    tag = uuid.uuid4().hex[:6]
    made = [rules.Rule(name=f"bill-age-{tag}", kind="queue_age", id=f"bill-age-{tag}",
                       params={**rules.Rule(name="x", kind="queue_age").params, "queue": "billing:*",
                               "threshold_s": 60.0, "for_s": 0}),
            rules.Rule(name=f"own-depth-{tag}", kind="queue_depth", id=f"own-depth-{tag}",
                       params={"queue": "email_queue", "threshold": 5, "for_s": 0}),
            rules.Rule(name=f"any-depth-{tag}", kind="queue_depth", id=f"any-depth-{tag}",
                       params={"queue": "*", "threshold": 5, "for_s": 0})]
    for r in made:
        redis_client.hset(keys.ALERT_RULES, r.id, r.to_json())
    fired = [events.write(redis_client, {"rule_id": f"any-depth-{tag}", "rule_name": f"any-depth-{tag}",
                                         "kind": "queue_depth", "status": "fired", "message": f"{tag} {q}",
                                         "subjects": {q: "9 ready"}}) for q in ("billing:invoices", "email_queue")]
    try:
        at = AppTest.from_file(str(ROOT / "pages" / "alerts.py"), default_timeout=60)
        at.session_state["cc_monitored_app"] = "billing"
        at.run()
        assert not at.exception, at.exception
        frame = lambda col: next(df.value for df in at.dataframe if col in df.value.columns)
        history_frame, rules_frame = frame("webhook"), frame("cool-down (s)")
        shown = dict(zip(rules_frame["name"], rules_frame["apps"]))
        assert shown[f"bill-age-{tag}"] == "billing" and shown[f"any-depth-{tag}"] == "all"
        assert f"own-depth-{tag}" not in shown  # the console's own queue
        assert [m for m in history_frame["message"] if tag in m] == [f"{tag} billing:invoices"]
        at.selectbox(key="al_form_kind").select("queue_age").run()
        offered = at.selectbox(key="al_form_queue_age_queue").options
        assert {"billing:*", "billing:invoices"} <= set(offered) and "email_queue" not in offered
        at.sidebar.selectbox(key="cc_monitored_app").select("all apps").run()
        assert not at.exception, at.exception
        everything = frame("cool-down (s)")
        assert {f"own-depth-{tag}", f"bill-age-{tag}"} <= set(everything["name"])
        assert dict(zip(everything["name"], everything["apps"]))[f"own-depth-{tag}"] == "console"
    finally:
        for r in made:
            redis_client.hdel(keys.ALERT_RULES, r.id)
        for e in fired:
            redis_client.zrem(keys.ALERT_EVENTS, e["id"])
            redis_client.delete(keys.alert_event(e["id"]))


def test_rule_apps_from_queue_patterns_and_worker_names():
    from app.alerts import scope
    from app.alerts.rules import Rule

    names, workers = ["console", "billing", "shop"], {"bill-1@h": "billing", "email.ab@h": "console"}
    apps = lambda kind, **p: scope.rule_apps(Rule(name="r", kind=kind, params=p), names, workers)
    assert apps("queue_age", queue="billing:*") == {"billing"}
    assert apps("queue_age", queue="*:invoices") == {"billing", "shop"}
    assert apps("no_consumer", queue="email_queue") == {"console"}
    assert apps("queue_depth", queue="*") is None
    assert apps("worker_offline", worker="bill-*") == {"billing"} and apps("worker_offline", worker="*") is None
    assert apps("redis_memory", fraction=0.9) == {"console"} and apps("failure_rate", scope="task", target="x") is None
    assert scope.queue_subject_app("billing:invoices", names) == "billing"
    assert scope.queue_subject_app("email_queue", names) == scope.queue_subject_app("nope:q", names) == "console"
