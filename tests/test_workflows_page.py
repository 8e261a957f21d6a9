"""AppTest of the Workflows page (real Redis, worker, AI stand-in and SMTP server), and a long task's
percent seen rising in the Task Monitor's detail and table."""
from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from app.monitor import workflow as graph
from app import runtime
from app.store import history, workflows as saved_store
from app.tasks.base import ConsoleTask
from config.celery_config import celery_app
from tests.conftest import ROOT, wait_for
from tests.test_workflows import SUMMARY, body_of, docx, mailbox, settled  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("celery_worker")
PAGE = str(ROOT / "pages" / "workflows.py")
CORPUS_DOCX = ROOT.parent / "shared" / "corpus" / "docx" / "google-docs_no_docprops.docx"
F, A, E = "app.tasks.file_tasks.", "app.tasks.ai_tasks.", "app.tasks.email_tasks."


@celery_app.task(name="tests.slow_progress", base=ConsoleTask, bind=True)
def slow_progress(self, steps: int, pause_s: float) -> dict:
    for i in range(steps):
        self.report_progress(i, steps, f"step {i + 1} of {steps}")
        time.sleep(pause_s)
    return {"steps": steps}


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def compose(at: AppTest, kind: str, name: str, steps: list[tuple[str, dict]]) -> AppTest:
    at.radio(key="wf_kind").set_value(kind)
    at.text_input(key="wf_name").input(name)
    at.number_input(key="wf_count").set_value(len(steps))
    ok(at.run())
    for i, (task, kwargs) in enumerate(steps):
        at.selectbox(key=f"wf_s{i}_task").set_value(task)
        at.text_area(key=f"wf_s{i}_kwargs").input(json.dumps(kwargs))
    return ok(at.run())


def chain_steps(file_path: str | None) -> list[tuple[str, dict]]:
    return [(F + "process_word_document", {"file_path": file_path} if file_path else {}),
            (A + "analyze_document", {"analysis_type": "summary"}),
            (E + "send_email", {"to_email": "page@example.com", "subject": "From the page"})]


def test_chain_composed_on_the_page_arrives_with_the_summary_and_is_followed_live(
        fake_ai, mailbox, docx, redis_client):
    fake_ai.default = dict(text=SUMMARY)
    at = ok(AppTest.from_file(PAGE, default_timeout=30).run())
    data = (CORPUS_DOCX).read_bytes()
    at.file_uploader(key="wf_upload").upload("notes.docx", data, "application/octet-stream")
    at = compose(at, "chain", "page-summary", chain_steps(None))  # the upload fills the document step
    preview = at.code[0].value
    assert "text_file ← outputs.text_file" in preview and "body ← content" in preview
    assert at.get("graphviz_chart")
    ok(at.button(key="wf_save").click().run())
    assert saved_store.get(redis_client, "page-summary") is not None
    ok(at.button(key="wf_send").click().run())
    [run] = at.session_state["wf_runs"]
    wait_for(lambda: len(mailbox.handler.messages) == 1, timeout_s=60)
    assert SUMMARY in body_of(mailbox.handler.messages[0])
    assert mailbox.handler.messages[0].rcpt_tos == ["page@example.com"]
    wait_for(lambda: settled(redis_client, run["step_ids"]), timeout_s=20)
    ok(at.run())
    table = at.dataframe[0].value
    assert list(table["state"]) == ["SUCCESS"] * 3 and list(table["percent"]) == [100] * 3
    assert any("Workflow: 5 tasks (5 SUCCESS)" in c.value for c in at.caption)
    assert [b.label for b in at.button if b.key and b.key.startswith("wf_open:")] == [
        "Open step 1: process_word_document", "Open step 2: analyze_document", "Open step 3: send_email"]
    # the saved workflow runs again from the Saved tab: a second message
    at.selectbox(key="wf_saved_pick").set_value("page-summary")  # other tests may have saved theirs
    at = ok(at.button(key="wf_run_again").click().run())
    # the run is recorded when it is sent; its message is the second one to this address (a late
    # message of an earlier test's worker may reach this test's server too: count by recipient)
    wait_for(lambda: len(saved_store.runs(redis_client, "page-summary")) == 2, timeout_s=10)
    wait_for(lambda: sum(m.rcpt_tos == ["page@example.com"] for m in mailbox.handler.messages) == 2,
             timeout_s=60)
    # put on beat's schedule (admin: the local identity), then deleted with its entry left to remove;
    # first the page sees the second run finish (its last live refresh reruns the whole page)
    wait_for(lambda: settled(redis_client, at.session_state["wf_runs"][0]["step_ids"]), timeout_s=20)
    ok(at.run())
    at.number_input(key="wf_every").set_value(15)
    ok(at.button(key="wf_schedule").click().run())
    assert "as 'workflow page-summary': Every 15 minutes" in at.success[0].value
    from app import schedules

    entry = schedules.get_entry(celery_app, "workflow page-summary")
    assert entry.task == "app.tasks.workflow_tasks.run_saved" and entry.args == ["page-summary"]
    schedules.delete_entry(celery_app, entry.name)
    ok(at.button(key="wf_delete").click().run())
    assert saved_store.get(redis_client, "page-summary") is None


def test_the_page_refuses_bad_workflows_with_a_clear_error(data_dir):
    at = ok(AppTest.from_file(PAGE, default_timeout=30).run())
    at = compose(at, "chain", "bad", [(F + "process_word_document", {"file_path": str(data_dir / "uploads" / "x.docx")})])
    assert "the stored file is missing: x.docx" in at.error[0].value
    assert [b for b in at.button if b.key == "wf_send"] == []
    at = compose(at, "chain", "bad", [(E + "send_email", {"to_email": "a@example.com", "subject": "s", "body": "b"}),
                                      (A + "translate_text", {"target_language": "de"})])
    assert at.error[0].value == ("Step 2 (translate_text): missing a required argument: 'text'. Nothing in "
                                 "send_email's result fits text (it gives message_id (an id)).")
    at.text_area(key="wf_s0_kwargs").input("{not json")
    ok(at.run())
    assert "the arguments are not JSON" in at.error[0].value
    assert at.session_state["wf_runs"] == []


def test_group_and_chord_sent_from_the_page_show_every_node_state(fake_ai, mailbox, redis_client):
    post = (A + "generate_content", {"content_type": "social_post", "topic": "queues"})
    at = compose(ok(AppTest.from_file(PAGE, default_timeout=30).run()), "group", "posts", [post, post, post])
    ok(at.button(key="wf_send").click().run())
    at.radio(key="wf_kind").set_value("chord")
    at.number_input(key="wf_count").set_value(2)
    ok(at.run())
    at.selectbox(key="wf_cb_task").set_value(E + "send_email")
    at.text_area(key="wf_cb_kwargs").input(json.dumps({"to_email": "ops@example.com", "subject": "Digest"}))
    ok(at.run())
    assert "then ⇒ send_email(" in at.code[0].value and "body ← content" in at.code[0].value
    ok(at.button(key="wf_send").click().run())
    chord_run, group_run = at.session_state["wf_runs"]
    ids = group_run["step_ids"] + chord_run["step_ids"]
    wait_for(lambda: settled(redis_client, ids), timeout_s=60)
    ok(at.run())
    tables = [d.value for d in at.dataframe]
    assert [list(t["state"]) for t in tables] == [["SUCCESS"] * 3, ["SUCCESS"] * 3]
    captions = [c.value for c in at.caption if c.value.startswith("Workflow:")]
    assert "Workflow: 4 tasks (4 SUCCESS)" in captions[0]  # chord: 2 posts, the adapter, the e-mail
    assert "Workflow: 3 tasks (3 SUCCESS)" in captions[1]
    assert len(mailbox.handler.messages) == 1


def test_long_tasks_percent_is_seen_rising_in_the_task_monitor(redis_client):
    result = slow_progress.delay(8, 0.5)
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=30)
    at.session_state["mon_selected_task"] = result.id
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not result.ready():
        ok(at.run())
        bars = at.get("progress")
        if bars:
            seen.append(bars[0].proto.value)
            assert f"% · step " in bars[0].proto.text
        time.sleep(0.4)
    assert result.get(timeout=30) == {"steps": 8}
    assert len(set(seen)) >= 3 and seen == sorted(seen) and seen[-1] > seen[0], seen


def test_viewer_sees_no_mutating_control_and_operator_sends_are_audited(monkeypatch, docx, fake_ai):
    from app.access import audit
    from app.access.identity import Identity
    from app.access.roles import Role
    from app.ui.auth import SESSION_KEY
    from app.ui.resources import redis_client
    from config.settings import get_settings

    monkeypatch.setattr(get_settings(), "CONSOLE_AUTH", "accounts")
    saved_store.save(redis_client(), "kept", {"name": "kept", "kind": "group", "steps": [
        {"task": A + "translate_text", "kwargs": {"text": "hi", "target_language": "de"}}]}, "tester")
    viewer = AppTest.from_file(PAGE, default_timeout=30)
    viewer.session_state[SESSION_KEY] = Identity("wf-viewer", Role.VIEWER, "10.0.0.9", "accounts", 9e18)
    ok(viewer.run())
    assert any("read-only" in i.value for i in viewer.info)
    assert {b.label for b in viewer.button} == set()
    operator = AppTest.from_file(PAGE, default_timeout=30)
    operator.session_state[SESSION_KEY] = Identity("wf-operator", Role.OPERATOR, "10.0.0.9", "accounts", 9e18)
    ok(operator.run())
    assert {"Run again", "Delete"} <= {b.label for b in operator.button}
    assert "choose a stored file for file_path" in operator.error[0].value  # the composer's first step
    assert "Schedule" not in {b.label for b in operator.button}  # an admin's act
    ok(operator.button(key="wf_run_again").click().run())
    [entry] = audit.read(redis_client(), audit.AuditFilter(who="wf-operator"), 10)
    assert (entry["action"], entry["target"], entry["outcome"]) == ("submit", "workflow kept", "ok")
    [run] = operator.session_state["wf_runs"]
    assert celery_app.AsyncResult(run["result_id"]).get(timeout=30)["content"]  # done before the next test
    saved_store.delete(redis_client(), "kept")


def test_failed_step_retried_from_the_page_and_a_step_opened_in_the_task_monitor(fake_ai, mailbox, docx, redis_client):
    fake_ai.push(dict(status=400, message="prompt refused"))
    fake_ai.default = dict(text=SUMMARY)
    at = compose(ok(AppTest.from_file(PAGE, default_timeout=30).run()), "chain", "retry-me", chain_steps(docx))
    ok(at.button(key="wf_send").click().run())
    [run] = at.session_state["wf_runs"]
    wait_for(lambda: settled(redis_client, run["step_ids"][1:2], ("FAILURE",)), timeout_s=60)
    ok(at.run())
    assert list(at.dataframe[0].value["state"])[:2] == ["SUCCESS", "FAILURE"]
    assert "prompt refused" in at.dataframe[0].value["message"][1]
    failed_id = run["step_ids"][1]
    ok(at.button(key=f"wf_retry:{failed_id}").click().run())
    ok(at.button(key="confirm_yes").click().run())
    assert "new_id=" in at.success[0].value
    new_id = wait_for(lambda: history.get_task(redis_client, failed_id).get("retried_as"))
    assert at.session_state["wf_runs"][0]["step_ids"] == [run["step_ids"][0], new_id, run["step_ids"][2]]
    assert celery_app.AsyncResult(new_id).get(timeout=60)["content"] == SUMMARY
    # the rest of the chain went on from the retried step: the e-mail arrives with the summary
    assert celery_app.AsyncResult(run["step_ids"][2]).get(timeout=60)["status"] == "sent"
    assert len(mailbox.handler.messages) == 1
    ok(at.button(key=f"wf_open:{run['step_ids'][0]}").click().run())
    assert at.session_state["mon_selected_task"] == run["step_ids"][0]


def test_workflows_is_in_the_navigation(redis_client):
    health = celery_app.send_task("app.tasks.maintenance_tasks.health_check")
    health.get(timeout=30)
    wait_for(lambda: settled(redis_client, [health.id]), timeout_s=20)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.session_state["wf_runs"] = [{"name": "one", "kind": "group", "step_ids": [health.id], "result_id": health.id}]
    ok(at.switch_page("pages/workflows.py").run())
    assert at.title[0].value == "Workflows"
    assert list(at.dataframe[0].value["state"]) == ["SUCCESS"]
    assert at.button(key=f"wf_open:{health.id}").label == "Open step 1: health_check"
