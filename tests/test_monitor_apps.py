"""The monitored-apps registry (MONITOR_APPS), the head-of-queue latency record and the start plan:
no worker needed (the live tests with foreign apps are in tests/test_monitor_apps_live.py)."""
from __future__ import annotations

import time
import uuid

import pytest

from app.errors import InvalidInput, NotConfigured
from app.monitor import apps, latency
from app.monitor.queues import QueueDetail
from config.settings import Settings


def test_compact_syntax_gives_name_broker_backend_and_queues():
    got = apps.parse(" billing=redis://b:6379/0|redis://b:6379/1|invoices, mail ;"
                     "shop=amqp://u:p@rabbit:5672/shop||orders; plain=redis://p:6379/2 ;")
    assert [(a.name, a.broker_url, a.result_backend, a.queues) for a in got] == [
        ("billing", "redis://b:6379/0", "redis://b:6379/1", ("invoices", "mail")),
        ("shop", "amqp://u:p@rabbit:5672/shop", None, ("orders",)),
        ("plain", "redis://p:6379/2", None, ())]
    assert apps.parse("x=redis://h/0|q1")[0].queues == ("q1",)  # the part without :// is the queue list
    assert "p@" not in got[1].describe() and "***" in got[1].describe()


def test_json_syntax_reads_the_same():
    got = apps.parse('[{"name": "billing", "broker": "redis://b/0", "backend": "redis://b/1", "queues": ["a", "b"]}]')
    assert (got[0].name, got[0].result_backend, got[0].queues) == ("billing", "redis://b/1", ("a", "b"))


@pytest.mark.parametrize("text, words", [
    ("billing", "not name=broker_url"),
    ("Billing=redis://h/0", "must be 1-32 of a-z"),
    ("console=redis://h/0", "console's own app"),
    ("a=redis://h/0;a=redis://h/1", "listed twice"),
    ("a=http://h/0", "not supported"),
    ("a=redis://h/0|redis://h/1|redis://h/2", "two result backends"),
    ("a=redis://h/0|q|redis://h/1|x", "more than three"),
    ("[{\"name\": \"a\"}]", "needs a name and a broker"),
    ("[{\"name\": ", "not valid JSON"),
])
def test_bad_entries_are_refused_with_what_is_wrong(text, words):
    with pytest.raises(NotConfigured, match=words):
        apps.parse(text)


def test_registry_always_holds_the_console_and_the_shorthand_stays(redis_url, celery_app):
    s = Settings(REDIS_URL=redis_url, MONITOR_BROKER_URL="redis://elsewhere:6379/3",
                 MONITOR_QUEUES="email_queue,legacy")
    reg = apps.MonitoredApps.from_settings(s, celery_app, ("email_queue",))
    assert reg.names == ["console", "monitored"] and reg.get("monitored").queues == ("legacy",)
    assert reg.celery("console") is celery_app and reg.of_task({"app": "monitored"}).name == "monitored"
    assert reg.of_task({}).name == "console" and reg.get(None).name == "console"
    with pytest.raises(InvalidInput, match="No monitored app is called 'nope'"):
        reg.get("nope")
    both = apps.MonitoredApps.from_settings(Settings(REDIS_URL=redis_url, MONITOR_APPS=f"twin={redis_url}|x"),
                                            celery_app)
    assert both.names == ["console", "twin"] and both.sharing_broker() == ["twin"]
    plain = both.celery("twin")
    assert plain is not celery_app and plain.conf.broker_url == redis_url and not plain.conf.task_routes


def test_start_plan_names_each_app_runs_one_ingester_each_and_warns_on_a_shared_broker(redis_url, tmp_path):
    from app.launcher import processes

    s = Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path,
                 MONITOR_APPS=f"billing=redis://:pw@other:6379/0|invoices;shop=amqp://g:secret@rabbit:5672/shop;"
                              f"twin={redis_url}")
    p = processes.plan(s, explicit_redis=True)
    apps.add_to_plan(s, p)
    assert not p.errors
    assert p.processes["monitor_events_billing"].endswith("python -m app.monitor.events --app billing")
    assert p.processes["monitor_events"].endswith("--app console") and "monitor_events_shop" in p.processes
    lines = [n for n in p.notes if n.startswith(("Celery:", "Monitoring app"))]
    assert len(lines) == 4 and "console's own workers use broker" in lines[0]
    assert not any("secret" in n or ":pw@" in n for n in p.notes)
    warning = next(n for n in p.notes if n.startswith("Warning: monitored app 'twin'"))
    assert "take messages from its queues" in warning
    # no REDIS_URL set: the line names the embedded Redis every process gets, not the default URL
    embedded = Settings(DATA_DIR=tmp_path / "e", REDIS_EMBEDDED_PORT=6999, MONITOR_APPS=f"other={s.REDIS_URL}")
    e = processes.plan(embedded, explicit_redis=False)
    apps.add_to_plan(embedded, e)
    own = next(n for n in e.notes if n.startswith("Celery:"))
    assert ":6999/" in own and embedded.REDIS_URL.rsplit("@", 1)[-1] not in own, own
    assert not any(n.startswith("Warning: monitored app 'other'") for n in e.notes)
    bad_settings = Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path, MONITOR_APPS="x")
    bad = processes.plan(bad_settings, explicit_redis=True)
    apps.add_to_plan(bad_settings, bad)
    assert bad.errors and "MONITOR_APPS" in bad.errors[0]


def test_latency_without_publish_time_is_a_growing_lower_bound_reset_when_the_head_changes(redis_client):
    app_name, t0 = f"lat{uuid.uuid4().hex[:6]}", time.time()
    first = latency.fill(redis_client, app_name, [QueueDetail("q", ready=2, head_id="m1"),
                                                  QueueDetail("empty", ready=0)], now=t0)
    assert (first[0].latency_s, first[0].latency_lower_bound, first[1].latency_s) == (0.0, True, None)
    later = latency.fill(redis_client, app_name, [QueueDetail("q", ready=5, head_id="m1")], now=t0 + 7)[0]
    assert later.latency_s == 7.0 and later.latency_lower_bound
    moved = latency.fill(redis_client, app_name, [QueueDetail("q", ready=4, head_id="m2")], now=t0 + 9)[0]
    assert moved.latency_s == 0.0  # a new head: counted from now
    # no head id (RabbitMQ): the bound holds while the ready count never falls
    rabbit = [QueueDetail("r", ready=3, unknown={"latency_s": "no timestamp"})]
    latency.fill(redis_client, app_name, rabbit, now=t0)
    grown = latency.fill(redis_client, app_name, [QueueDetail("r", ready=4)], now=t0 + 5)[0]
    fell = latency.fill(redis_client, app_name, [QueueDetail("r", ready=1)], now=t0 + 6)[0]
    assert (rabbit[0].latency_s, rabbit[0].unknown, grown.latency_s, fell.latency_s) == (0.0, {}, 5.0, 0.0)


def test_latency_uses_the_history_sent_time_when_the_head_is_a_known_task(redis_client):
    from app import runtime
    from app.store.writer import StateChange

    tid, sent = str(uuid.uuid4()), time.time() - 42
    runtime.get().writer.record(StateChange(tid, "SENT", sent, name="x.y", queue="q", source="events"), sync=True)
    d = latency.fill(redis_client, "console", [QueueDetail("q", ready=1, head_id=tid)], now=sent + 42)[0]
    assert d.latency_s == 42.0 and not d.latency_lower_bound


def test_alert_lateness_is_reported_until_an_evaluation_finishes(redis_client):
    from app.alerts import engine
    from app.store import alerts as store

    store.set_evaluated_at(redis_client, time.time() - 1_000)
    assert "last evaluated 1000 s ago" in engine.lateness(redis_client, 30.0)
    store.set_evaluated_at(redis_client, time.time())
    assert engine.lateness(redis_client, 30.0) is None


def test_task_monitor_shows_the_app_column_and_the_selector_scopes_the_list(redis_client, redis_url, mail_settings):
    from streamlit.testing.v1 import AppTest

    from app import runtime
    from app.store.writer import StateChange
    from tests.conftest import ROOT

    word = f"appsel{uuid.uuid4().hex[:8]}"
    mail_settings(MONITOR_APPS=f"billing={redis_url.rsplit('/', 1)[0]}/7|{redis_url.rsplit('/', 1)[0]}/8|invoices")
    now = time.time()
    foreign, own = str(uuid.uuid4()), str(uuid.uuid4())
    runtime.get().writer.record(StateChange(foreign, "SUCCESS", now, name="billing.charge", args=f'["{word}"]',
                                     fields={"app": "billing"}, source="events"), sync=True)
    runtime.get().writer.record(StateChange(own, "SUCCESS", now, name="app.x", args=f'["{word}"]'), sync=True)
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=60)
    at.session_state["mon_search"] = word
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="cc_monitored_app").options == ["all apps", "console", "billing"]

    def shown():
        frame = next(df.value for df in at.dataframe if "app" in df.value.columns and "runtime (s)" in df.value.columns)
        return dict(zip(frame["id"], frame["app"]))
    assert shown() == {foreign: "billing", own: "console"}
    at.sidebar.selectbox(key="cc_monitored_app").select("billing").run()
    assert not at.exception, at.exception
    assert shown() == {foreign: "billing"}
    assert any("invoices" in m.value.replace("\\", "") for m in at.markdown)  # the chosen app's queues (figures), on its broker
    # each app's ingest status (an earlier test's "billing" ingester may have reported in this Redis)
    assert any(c.value.startswith("Event ingest") and "billing: " in c.value for c in at.sidebar.caption)


def test_retry_dialog_asks_for_the_queue_of_a_task_sent_without_a_sent_event(redis_client, redis_url, mail_settings):
    from streamlit.testing.v1 import AppTest

    from app.monitor.brokers import redis_lists
    from app import runtime
    from app.store.writer import StateChange
    from app.store.clients import redis_from_url
    from tests.conftest import ROOT

    base = redis_url.rsplit("/", 1)[0]
    mail_settings(MONITOR_APPS=f"billing={base}/7|{base}/8|invoices,refunds")
    tid = str(uuid.uuid4())
    runtime.get().writer.record(StateChange(tid, "SUCCESS", time.time(), name="billing.charge", args='["c1"]', kwargs="{}",
                                     args_json='["c1"]', kwargs_json="{}", worker="bill@h",
                                     fields={"app": "billing"}, source="events"), sync=True)
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=60)
    at.session_state["mon_selected_task"] = tid
    at.run()
    assert not at.exception, at.exception
    choice = at.selectbox(key=f"retry_queue:{tid}")
    assert choice.options == ["invoices", "refunds"]  # the worker reported none: the app's queues
    choice.select("refunds").run()
    next(b for b in at.button if b.label == "Retry with same args").click().run()
    next(b for b in at.button if b.label == "Confirm").click().run()
    assert not at.exception, at.exception
    broker = redis_from_url(f"{base}/7")
    assert redis_lists.depths(broker, ["refunds"]).ready["refunds"] == 1  # on billing's broker, that queue
    broker.flushdb()
