"""Alert rules on real tasks, queues and Redis; delivery to a real SMTP server (aiosmtpd) and to a
local HTTP server receiving the webhook."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from streamlit.testing.v1 import AppTest

from app.alerts import admin, checks, engine, events, rules, webhook
from app.alerts.rules import Rule
from app.errors import InvalidInput, PermissionDenied
from app.access import Identity, Role, audit
from app.monitor.brokers import redis_lists
from app.store import keys
from app import runtime
from app.tasks import alert_tasks
from config.celery_config import celery_app
from config.celery_settings import QUEUES
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")
ADMIN = Identity("alert-admin", Role.ADMIN, "127.0.0.1", "accounts")
VIEWER = Identity("alert-viewer", Role.VIEWER, "127.0.0.1", "accounts")
SECRET_PATH = "T000/B000/sEcReTtOkEn"


@celery_app.task(name="tests.alert_probe")
def alert_probe(sleep_s: float = 0.0, fail: bool = False) -> str:
    time.sleep(sleep_s)
    if fail:
        raise ValueError(f"probe failed after {sleep_s} s")
    return "ok"


@pytest.fixture()
def clean_alerts(redis_client):
    """No rules, states or events from another test; removed again afterwards."""
    def wipe():
        ids = redis_client.zrange(keys.ALERT_EVENTS, 0, -1)
        redis_client.delete(keys.ALERT_RULES, keys.ALERT_STATE, keys.ALERT_EVENTS, keys.ALERT_SEEDED,
                            *(keys.alert_event(i) for i in ids))
    wipe()
    yield
    wipe()


class Receiver:
    """A local HTTP server recording webhook POSTs; `codes` are answered first, then 200."""

    def __init__(self):
        self.requests: list[dict] = []
        self.codes: list[int] = []
        self.rule_id: str | None = None  # answer `codes` only to this rule's alerts
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                rule_id = ((body or {}).get("alert") or body or {}).get("rule", {}).get("id")
                ours = receiver.rule_id is None or rule_id == receiver.rule_id
                code = receiver.codes.pop(0) if receiver.codes and ours else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{SECRET_PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def ctx_for(redis_client, queue_names=QUEUES, offline_after_s=10.0):
    return checks.Context(redis_client, redis_client, queue_names, offline_after_s, app=celery_app)


# ---- rules: bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("rule, message", [
    (Rule(name="x", kind="nope"), "Unknown rule kind"),
    (Rule(name="x", kind="queue_depth", severity="loud"), "Unknown severity"),
    (Rule(name=" ", kind="queue_depth"), "needs a name"),
    (Rule(name="x", kind="queue_depth", params={"threshold": "many"}), "must be a int"),
    (Rule(name="x", kind="failure_rate", params={"threshold_pct": 150}), "between 0 and 100"),
    (Rule(name="x", kind="failure_rate", params={"scope": "worker"}), "scope must be"),
    (Rule(name="x", kind="queue_depth", params={"depth": 3}), "Unknown parameter"),
    (Rule(name="x", kind="queue_depth", channels=["sms"]), "Unknown channel"),
    (Rule(name="x", kind="queue_depth", cooldown_s=-1), "cool-down"),
    (Rule(name="x", kind="queue_depth", id="Bad Id!"), "rule id"),
])
def test_invalid_rules_are_refused_and_nothing_is_stored(rule, message, redis_client, clean_alerts):
    with pytest.raises(InvalidInput, match=message):
        rules.save(redis_client, rule)
    assert rules.load_all(redis_client) == []


def test_rule_defaults_filled_and_round_trip(redis_client, clean_alerts):
    saved = rules.save(redis_client, Rule(name="deep", kind="queue_depth", params={"threshold": "5"}))
    assert saved.params == {"queue": "*", "threshold": 5, "for_s": 300}
    assert rules.get(redis_client, saved.id) == saved
    assert rules.seed_defaults(redis_client, destination_configured=False) == []
    assert len(rules.seed_defaults(redis_client, destination_configured=True)) == 4
    assert rules.seed_defaults(redis_client, destination_configured=True) == []  # once only
    rules.delete(redis_client, "default-worker-offline")
    assert rules.seed_defaults(redis_client, destination_configured=True) == []
    assert "default-worker-offline" not in {r.id for r in rules.load_all(redis_client)}
    with pytest.raises(InvalidInput):
        rules.delete(redis_client, "default-worker-offline")


@pytest.mark.parametrize("url", ["ftp://h/x", "file:///etc/passwd", "javascript:alert(1)", "http://", "",
                                 "http://h/a b", "//h/x", "http://h:99999/x"])
def test_webhook_url_must_be_http_or_https(url):
    with pytest.raises(InvalidInput):
        webhook.validate_url(url)


def test_webhook_url_is_never_shown_whole():
    url = "https://user:pw@hooks.example.com:8443/services/T0/B0/XYZsecret?token=abc"
    assert webhook.validate_url(url) == url
    assert webhook.safe_url(url) == "https://hooks.example.com:8443/…"


def test_settings_refuse_a_bad_webhook_url_without_echoing_it(monkeypatch):
    from config.settings import Settings

    monkeypatch.setenv("ALERT_WEBHOOK_URL", "ftp://hooks.example/T0/sEcReT")
    with pytest.raises(Exception) as info:
        Settings()
    assert "ALERT_WEBHOOK_URL" in str(info.value) and "sEcReT" not in str(info.value)


# ---- engine: for_s, cool-down, recovery (pure) ----------------------------------------------------

def test_step_applies_for_s_cooldown_and_recovery():
    rule = rules.validate(Rule(name="q", kind="no_consumer", params={"for_s": 60}, cooldown_s=600,
                               recovery_message="back"))
    st: dict = {}
    assert engine.step(rule, st, {"q1": "stuck"}, now=1000) == []          # breaching, not for 60 s yet
    fired = engine.step(rule, st, {"q1": "stuck"}, now=1061)
    assert [e["status"] for e in fired] == ["fired"] and fired[0]["deliver"] == "yes"
    assert engine.step(rule, st, {"q1": "stuck"}, now=1100) == []           # still firing, nothing new
    resolved = engine.step(rule, st, {}, now=1200)
    assert resolved[0]["status"] == "resolved" and resolved[0]["message"] == "back"
    again = engine.step(rule, st, {"q1": "stuck"}, now=1300)               # flaps within the cool-down
    assert again == []  # for_s starts over
    again = engine.step(rule, st, {"q1": "stuck"}, now=1361)
    assert again[0]["deliver"] == "no" and "cool-down" in again[0]["note"]
    assert engine.step(rule, st, {}, now=1400)[0]["deliver"] == "no"      # its firing was not sent


# ---- each rule kind on real tasks and queues --------------------------------------------------------

def test_queue_rules_fire_on_a_queue_without_consumer_and_recover(celery_app, redis_client, clean_alerts):
    q = f"alert_q_{uuid.uuid4().hex[:6]}"
    made = [rules.save(redis_client, Rule(name=n, kind=k, params={"queue": q, "for_s": 0, **p}))
            for n, k, p in (("nc", "no_consumer", {}), ("depth", "queue_depth", {"threshold": 2}),
                            ("age", "queue_age", {"threshold_s": 0.5}))]
    for _ in range(3):
        celery_app.send_task("tests.alert_probe", queue=q)
    time.sleep(0.6)
    written = engine.evaluate(redis_client, ctx_for(redis_client, [*QUEUES, q]), made)
    assert sorted(e["rule_name"] for e in written if e["status"] == "fired") == ["age", "depth", "nc"]
    assert all(q in e["subjects"] for e in written)
    assert {f["name"] for f in engine.firing(redis_client)} == {"age", "depth", "nc"}
    redis_lists.purge(redis_client, q)
    written = engine.evaluate(redis_client, ctx_for(redis_client, [*QUEUES, q]), made)
    assert sorted(e["rule_name"] for e in written if e["status"] == "resolved") == ["age", "depth", "nc"]
    assert engine.firing(redis_client) == []
    assert [e["status"] for e in events.recent(redis_client, rule_id=made[0].id)] == ["resolved", "fired"]


def test_runtime_p95_fires_on_slow_runs_and_recovers(celery_app, redis_client, clean_alerts):
    rule = rules.save(redis_client, Rule(name="slow", kind="runtime_p95", params={
        "task": "tests.alert_probe", "threshold_s": 0.1, "window_s": 60, "min_runs": 3}))
    engine.evaluate(redis_client, ctx_for(redis_client), [rule])  # baseline snapshot
    results = [celery_app.send_task("tests.alert_probe", kwargs={"sleep_s": 0.3}) for _ in range(3)]
    for r in results:
        r.get(timeout=30)
    runtime.get().writer.flush()
    wait_for(lambda: sum(float(v) for b, v in redis_client.hgetall(keys.runtime_histogram("tests.alert_probe")).items()
                         if b != "sum") >= 3)
    written = engine.evaluate(redis_client, ctx_for(redis_client), [rule])
    assert [e["status"] for e in written] == ["fired"], written
    assert "tests.alert_probe" in written[0]["subjects"]
    # the window moves past the slow runs: only runs finished in the last window_s count
    state = json.loads(redis_client.hget(keys.ALERT_STATE, rule.id))
    for snap in state["snaps"]:
        snap["at"] -= 120
    redis_client.hset(keys.ALERT_STATE, rule.id, json.dumps(state))
    written = engine.evaluate(redis_client, ctx_for(redis_client), [rule])
    assert [e["status"] for e in written] == ["resolved"]


def test_redis_memory_rule_fires_over_maxmemory_and_recovers(redis_client, clean_alerts):
    rule = rules.save(redis_client, Rule(name="mem", kind="redis_memory", params={"fraction": 0.5}))
    used = int(redis_client.info("memory")["used_memory"])
    old = redis_client.config_get("maxmemory")["maxmemory"]
    try:
        redis_client.config_set("maxmemory", str(int(used * 1.5)))
        assert [e["status"] for e in engine.evaluate(redis_client, ctx_for(redis_client), [rule])] == ["fired"]
    finally:
        redis_client.config_set("maxmemory", old)
    assert [e["status"] for e in engine.evaluate(redis_client, ctx_for(redis_client), [rule])] == ["resolved"]


# ---- delivery ------------------------------------------------------------------------------------

def test_fired_alert_is_mailed_and_webhook_retried_until_delivered(redis_client, clean_alerts, smtp_server,
                                                                     mail_settings, receiver):
    smtp = smtp_server()
    receiver.codes = [503, 503]  # down twice, then up
    receiver.rule_id = "deliver-test"
    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, ALERT_EMAIL_TO="ops@example.com",
                  ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_RETRY_S="0.1", ALERT_WEBHOOK_MAX_RETRIES="3",
                  ALERT_WEBHOOK_FORMAT="slack")
    from config.settings import get_settings

    q = f"alert_d_{uuid.uuid4().hex[:6]}"
    redis_client.delete(keys.ALERT_SEEDED)
    rules.save(redis_client, Rule(id="deliver-test", name="Nobody consumes", kind="no_consumer",
                                  params={"queue": q, "for_s": 0}, severity="critical"))
    celery_app.send_task("tests.alert_probe", queue=q)
    written = alert_tasks.run_evaluation(celery_app, redis_client, redis_client, get_settings())
    fired = next(e for e in written if e["rule_id"] == "deliver-test")
    assert {r.id for r in rules.load_all(redis_client)} >= {"default-no-consumer", "default-worker-offline"}
    # (the default rules just installed may mail about other tests' tasks too)
    mail = wait_for(lambda: next((m for m in smtp.handler.messages if b"Nobody consumes" in m.data), None),
                    timeout_s=30)
    assert mail.rcpt_tos == ["ops@example.com"] and b"[FIRED] [critical] Nobody consumes" in mail.data
    wait_for(lambda: (events.get(redis_client, fired["id"]) or {}).get("webhook", "").startswith("delivered"),
             timeout_s=30)
    mine = [r for r in receiver.requests if r["headers"]["Idempotency-Key"] == fired["id"]]
    assert len(mine) == 3  # 503, 503, 200 (default rules firing on other tests' tasks post their own)
    body = mine[-1]["body"]
    assert "Nobody consumes" in body["text"] and body["alert"]["status"] == "fired" and q in body["alert"]["subjects"]
    stored = json.dumps(events.get(redis_client, fired["id"]))
    assert SECRET_PATH not in stored and "attempt 3" in stored
    redis_lists.purge(redis_client, q)


def test_webhook_down_is_retried_a_bounded_number_of_times(redis_client, clean_alerts, mail_settings, receiver):
    receiver.codes = [503] * 10
    mail_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_RETRY_S="0.05", ALERT_WEBHOOK_MAX_RETRIES="2",
                  ALERT_EMAIL_TO=None)
    ev = events.write(redis_client, {"rule_id": "r", "rule_name": "R", "kind": "queue_depth",
                                     "severity": "info", "status": "fired", "message": "m", "subjects": {}})
    r = celery_app.send_task(alert_tasks.deliver_alert_webhook.name, args=[ev["id"]])
    out = r.get(timeout=30)
    assert out["status"] == "failed" and out["attempts"] == 3 and len(receiver.requests) == 3
    assert events.get(redis_client, ev["id"])["webhook"].startswith("failed after 3 attempts")
    receiver.codes = [404]
    out = celery_app.send_task(alert_tasks.deliver_alert_webhook.name, args=[ev["id"]]).get(timeout=30)
    assert out["status"] == "failed" and out["attempts"] == 1  # a 4xx is not retried
    assert SECRET_PATH not in json.dumps(out)


def test_send_test_alert_goes_out_and_is_audited(redis_client, clean_alerts, mail_settings, receiver):
    mail_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_EMAIL_TO=None, ALERT_WEBHOOK_FORMAT="json")
    rule = rules.save(redis_client, Rule(name="T", kind="worker_offline", channels=["webhook"]))
    with pytest.raises(InvalidInput):
        admin.send_test_alert(celery_app, redis_client, rule, ADMIN, None, None)
    with pytest.raises(PermissionDenied):  # viewer sees, admin edits
        admin.send_test_alert(celery_app, redis_client, rule, VIEWER, None, receiver.url)
    with pytest.raises(PermissionDenied):
        admin.save_alert_rule(redis_client, Rule(name="v", kind="queue_depth"), VIEWER)
    assert audit.recent(redis_client, 1)[0]["outcome"] == "denied"
    out = admin.send_test_alert(celery_app, redis_client, rule, ADMIN, None, receiver.url)
    wait_for(lambda: receiver.requests, timeout_s=20)
    assert receiver.requests[0]["body"]["status"] == "test" and receiver.requests[0]["body"]["rule"]["name"] == "T"
    last = audit.recent(redis_client, 1)[0]
    assert last["action"] == "alert_test" and last["who"] == "alert-admin" and last["outcome"] == "ok"
    assert events.get(redis_client, out["event_id"])["status"] == "test"


# ---- pages -----------------------------------------------------------------------------------------

def test_alerts_page_lists_rules_saves_one_and_shows_history(redis_client, clean_alerts):
    rules.save(redis_client, Rule(id="pg", name="Paged", kind="queue_depth", params={"queue": "email_queue"}))
    at = AppTest.from_file(str(ROOT / "pages" / "alerts.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    assert "Paged" in at.dataframe[0].value["name"].tolist()
    at.text_input(key="al_form_name").input("Big email queue").run()
    assert at.multiselect(key="al_form_ch").value == []  # no channel is configured here
    at.button(key="al_save").click().run()
    assert not at.exception, at.exception
    assert any("notifies nobody" in e.value for e in at.error)  # refused, saying why
    assert "Big email queue" not in {r.name for r in rules.load_all(redis_client)}
    at.checkbox(key="al_form_en").uncheck()
    at.button(key="al_save").click().run()  # a disabled rule can wait for a destination
    assert not at.exception, at.exception
    assert "Big email queue" in {r.name for r in rules.load_all(redis_client)}
    at.button(key="al_test").click().run()
    at.button(key="confirm_yes").click().run()
    assert any("ALERT_EMAIL_TO" in e.value for e in at.error)  # no destination configured here


def test_alert_form_speaks_plainly_and_refuses_a_rule_without_a_destination(redis_client, clean_alerts,
                                                                           mail_settings, receiver):
    at = AppTest.from_file(str(ROOT / "pages" / "alerts.py"), default_timeout=30).run()
    labels = {w.label for w in [*at.selectbox, *at.number_input, *at.text_input]}
    assert {"Applies to", "Failed runs over (%)", "Within the last (s)"} <= labels
    assert not {"scope", "threshold_pct", "window_s"} & labels
    assert at.selectbox(key="al_form_failure_rate_scope").options == ["a task name", "a queue"]
    assert any("dev mail sink" in c.value for c in at.caption)  # offered while ALERT_EMAIL_TO is unset
    at.text_input(key="al_form_name").input("Nobody hears").run()
    at.multiselect(key="al_form_ch").select("email")
    at.button(key="al_save").click().run()
    assert any("ALERT_EMAIL_TO is not set" in e.value for e in at.error)
    assert "Nobody hears" not in {r.name for r in rules.load_all(redis_client)}
    mail_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_EMAIL_TO=None)
    at = AppTest.from_file(str(ROOT / "pages" / "alerts.py"), default_timeout=30).run()
    assert at.multiselect(key="al_form_ch").value == ["webhook"]  # defaults to what is configured
    at.text_input(key="al_form_name").input("Someone hears").run()
    at.button(key="al_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Someone hears" in {r.name for r in rules.load_all(redis_client)}


def test_task_monitor_shows_a_banner_while_a_rule_fires(redis_client, clean_alerts):
    rule = rules.save(redis_client, Rule(id="bn", name="Banner rule", kind="queue_depth", severity="critical"))
    redis_client.hset(keys.ALERT_STATE, rule.id, json.dumps({"firing": True, "since": time.time(),
                                                             "subjects": {"email_queue": "deep"}}))
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30).run()
    assert not at.exception
    assert any("Alert firing: Banner rule" in e.value for e in at.error)
