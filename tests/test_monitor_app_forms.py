"""AppTest for the operator forms on a monitored app other than the console's own: worker pool
grow/shrink/autoscale, task rate and time limits, terminate with SIGTERM or SIGKILL. Each form must
call its action on the chosen app and leave an audit entry naming that app. The actions themselves
are verified on real foreign workers in tests/test_monitor_apps_live.py; here no worker of app
"billing" runs, so each broadcast is answered by nobody ("no worker replied", audited as such).
Also the queue table's latency cell for an age that is a lower bound."""
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
