"""Workflows of the console's own tasks through a real worker, the local AI stand-in and a real
SMTP server: a document → text → AI summary → e-mail chain, groups and chords drawn in the workflow
graph with every node's state, saved workflows run again and from beat's task, bad input refused."""
from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from app import workflows
from app.errors import InvalidInput
from app.monitor import workflow as graph
from app import runtime
from app.store import history
from app.workflows import saved
from config.celery_config import celery_app
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")
F, A, E = "app.tasks.file_tasks.", "app.tasks.ai_tasks.", "app.tasks.email_tasks."
SUMMARY = "The document explains how the console runs workflows."


@pytest.fixture()
def mailbox(smtp_server, mail_settings):
    server = smtp_server()
    mail_settings(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_TIMEOUT_S="5")
    return server


@pytest.fixture()
def docx(stored, corpus):
    return stored(corpus / "docx" / "google-docs_no_docprops.docx", "notes.docx")


def doc_summary_mail(file_path: str, name: str = "doc-summary") -> workflows.Workflow:
    return workflows.Workflow.from_dict({"name": name, "kind": "chain", "steps": [
        {"task": F + "process_word_document", "kwargs": {"file_path": file_path, "operations": ["extract_text"]}},
        {"task": A + "analyze_document", "kwargs": {"analysis_type": "summary"},
         "feed": {"text_file": "outputs.text_file"}},
        {"task": E + "send_email", "kwargs": {"to_email": "ann@example.com", "subject": "Summary"},
         "feed": {"body": "content"}}]})


def body_of(message) -> str:
    msg = BytesParser(policy=policy.default).parsebytes(message.data.replace(b"\r\n", b"\n"))
    return msg.get_body(("plain",)).get_content()


def settled(client, ids, states=("SUCCESS",)) -> bool:
    runtime.get().writer.flush()
    return all((history.get_task(client, i) or {}).get("state") in states for i in ids)


def test_document_to_ai_summary_to_email_chain_arrives_with_the_summary(fake_ai, mailbox, docx, data_dir, redis_client):
    fake_ai.default = dict(text=SUMMARY)
    wf = doc_summary_mail(docx)
    workflows.validate(celery_app, wf, data_dir)
    text = workflows.preview(wf)
    assert "analyze_document(analysis_type='summary', text_file ← outputs.text_file)" in text
    assert "→ send_email(" in text and "body ← content" in text
    assert "s0 -> s1" in workflows.dot(wf)
    sent = workflows.send(celery_app, wf)
    assert len(sent.step_ids) == 3 and sent.result_id == sent.step_ids[-1]
    result = celery_app.AsyncResult(sent.result_id).get(timeout=60)
    assert result["status"] == "sent" and result["accepted"] == ["ann@example.com"]
    assert len(mailbox.handler.messages) == 1 and SUMMARY in body_of(mailbox.handler.messages[0])
    analysed = celery_app.AsyncResult(sent.step_ids[1]).get(timeout=5)
    assert analysed["content"] == SUMMARY and analysed["text_file"].endswith(".txt")
    assert fake_ai.count() == 1
    wait_for(lambda: settled(redis_client, sent.step_ids), timeout_s=20)
    wf_graph = graph.build(redis_client, sent.step_ids[-1])
    assert set(sent.step_ids) <= set(wf_graph.nodes)
    names = {wf_graph.nodes[i].get("name") for i in sent.step_ids}
    assert names == {F + "process_word_document", A + "analyze_document", E + "send_email"}
    adapters = [i for i, n in wf_graph.nodes.items() if n.get("name") == "app.tasks.workflow_tasks.feed"]
    assert len(adapters) == 2 and len(wf_graph.nodes) == 5
    for a, (before, after) in zip(sorted(adapters, key=lambda i: wf_graph.nodes[i]["sent_at"]),
                                  zip(sent.step_ids, sent.step_ids[1:])):
        assert (before, a) in wf_graph.edges and (a, after) in wf_graph.edges
    depth = wf_graph.depths()
    assert [depth[i] for i in sent.step_ids] == [0, 2, 4]
    assert {n["state"] for n in wf_graph.nodes.values()} == {"SUCCESS"}


def _items(n: int):
    return [{"task": A + "generate_content", "kwargs": {"content_type": "social_post", "topic": f"topic {i}"}}
            for i in range(n)]


def test_group_is_drawn_with_every_node_and_its_state(fake_ai, redis_client):
    wf = workflows.Workflow.from_dict({"name": "posts", "kind": "group", "steps": _items(3)})
    workflows.validate(celery_app, wf)
    sent = workflows.send(celery_app, wf)
    assert len(celery_app.GroupResult(sent.result_id, [celery_app.AsyncResult(i) for i in sent.step_ids])
               .get(timeout=60)) == 3
    wait_for(lambda: settled(redis_client, sent.step_ids), timeout_s=20)
    drawn = graph.build(redis_client, sent.first_id)
    assert set(drawn.nodes) == set(sent.step_ids)
    assert {n["state"] for n in drawn.nodes.values()} == {"SUCCESS"}


def test_chord_callback_gets_every_header_text_and_is_drawn(fake_ai, mailbox, redis_client):
    fake_ai.responder = lambda api, body: f"post about {body['messages'][-1]['content'][-12:]}"
    wf = workflows.Workflow.from_dict({"name": "digest", "kind": "chord", "steps": _items(2), "callback": {
        "task": E + "send_email", "kwargs": {"to_email": "ops@example.com", "subject": "Digest"},
        "feed": {"body": "content"}}})
    workflows.validate(celery_app, wf)
    assert "then ⇒ send_email(" in workflows.preview(wf)
    sent = workflows.send(celery_app, wf)
    assert celery_app.AsyncResult(sent.result_id).get(timeout=60)["status"] == "sent"
    body = body_of(mailbox.handler.messages[0])
    assert body.count("post about") == 2
    wait_for(lambda: settled(redis_client, sent.step_ids), timeout_s=20)
    drawn = graph.build(redis_client, sent.result_id)
    assert set(sent.step_ids) <= set(drawn.nodes)
    [adapter] = [i for i, n in drawn.nodes.items() if n.get("name") == "app.tasks.workflow_tasks.feed"]
    assert all((h, adapter) in drawn.edges for h in sent.step_ids[:2]) and (adapter, sent.result_id) in drawn.edges
    assert {drawn.nodes[i]["state"] for i in sent.step_ids} == {"SUCCESS"}
    depth = drawn.depths()
    assert depth[sent.result_id] > max(depth[h] for h in sent.step_ids[:2])


def test_saved_workflow_runs_again_and_from_beats_task(fake_ai, mailbox, docx, data_dir, redis_client):
    fake_ai.default = dict(text=SUMMARY)
    wf = doc_summary_mail(docx, "weekly-summary")
    saved.save(celery_app, redis_client, wf, "tester", data_dir)
    assert saved.load(redis_client, "weekly-summary").to_dict() == wf.to_dict()
    first = saved.run_saved(celery_app, redis_client, "weekly-summary", data_dir)
    celery_app.AsyncResult(first.result_id).get(timeout=60)
    by_beat = celery_app.send_task(saved.RUN_SAVED_TASK, args=["weekly-summary"]).get(timeout=30)
    celery_app.AsyncResult(by_beat["result_id"]).get(timeout=60)
    assert len(mailbox.handler.messages) == 2
    assert all(SUMMARY in body_of(m) for m in mailbox.handler.messages)
    runs = saved.store.runs(redis_client, "weekly-summary")
    assert [r["result_id"] for r in runs] == [by_beat["result_id"], first.result_id]
    entry = saved.schedule(celery_app, redis_client, "weekly-summary", {"type": "interval", "every_s": 3600})
    assert entry.task == saved.RUN_SAVED_TASK and entry.args == ["weekly-summary"]
    from app import schedules

    schedules.delete_entry(celery_app, entry.name)


def test_failed_chain_step_is_retried_and_the_chain_goes_on(fake_ai, mailbox, docx, redis_client):
    """The AI step fails; Retry (as the Workflows page does it) re-sends it with the same arguments
    and the e-mail step attached, so the summary still arrives; every task of the run, the
    adapters and the retried step included, went at the console's normal priority."""
    from app import priority
    from app.access.identity import Identity
    from app.access.roles import Role
    from app.ui import workflow_runs

    fake_ai.push(dict(status=400, message="prompt refused"))  # the AI step fails at once
    fake_ai.default = dict(text=SUMMARY)
    sent = workflows.send(celery_app, doc_summary_mail(docx))
    run = sent.to_dict()
    failed = celery_app.AsyncResult(sent.step_ids[1])
    failed.get(timeout=60, propagate=False)
    assert failed.state == "FAILURE" and mailbox.handler.messages == []
    wait_for(lambda: settled(redis_client, [sent.step_ids[1]], ("FAILURE",)), timeout_s=20)
    assert (history.get_task(redis_client, sent.step_ids[2]) or {}).get("state") is None  # the chain stopped
    again = workflow_runs.retry_step(celery_app, redis_client, run, sent.step_ids[1],
                                     Identity("tester", Role.OPERATOR, "", "test"))
    assert run["step_ids"] == [sent.step_ids[0], again["new_id"], sent.step_ids[2]]
    out = celery_app.AsyncResult(again["new_id"]).get(timeout=60)
    assert out["content"] == SUMMARY and out["text_file"].endswith(".txt")
    # the e-mail step runs under the id chosen when the workflow was built
    assert celery_app.AsyncResult(sent.step_ids[2]).get(timeout=60)["status"] == "sent"
    assert len(mailbox.handler.messages) == 1 and SUMMARY in body_of(mailbox.handler.messages[0])
    wait_for(lambda: settled(redis_client, run["step_ids"]), timeout_s=20)
    ids = set(graph.build(redis_client, sent.step_ids[0]).nodes) | set(graph.build(redis_client, again["new_id"]).nodes)
    tasks = [history.get_task(redis_client, i) for i in ids | set(run["step_ids"])]
    assert len(tasks) == 6  # 3 steps, 2 adapters, the retried step
    normal = priority.for_app(celery_app, "normal")
    assert {(t["name"].rsplit(".", 1)[-1], int(t["priority"])) for t in tasks} == \
        {(n, normal) for n in ("process_word_document", "feed", "analyze_document", "send_email")}


def test_signatures_carry_the_normal_level_translated_for_each_broker():
    """The canvas gives every signature the console's normal level in the broker's own order, so
    a workflow queues alike on Redis (5) and on RabbitMQ (4, x-max-priority 10)."""
    from celery import Celery

    amqp = Celery("wf-amqp", set_as_current=False)
    amqp.conf.update(broker_url="amqp://guest:guest@127.0.0.1:5672//", task_queue_max_priority=10)
    try:
        wf = workflows.Workflow.from_dict({"name": "digest", "kind": "chord", "steps": _items(2), "callback": {
            "task": E + "send_email", "kwargs": {"to_email": "ops@example.com", "subject": "Digest"},
            "feed": {"body": "content"}}})
        for app, expected in ((celery_app, 5), (amqp, 4)):
            sig, ids = workflows.build(app, wf)
            members = list(sig.tasks) + [sig.body]
            assert [m.options["priority"] for m in members] == [expected] * 3
            fed = workflows.canvas.fed_signature(app, [{"content": "a"}], E + "send_email", [],
                                                 {"to_email": "a@example.com", "subject": "s"}, {"body": "content"})
            assert fed.options["priority"] == expected
        chain_wf = doc_summary_mail("/x.docx")
        sig, ids = workflows.build(amqp, chain_wf)
        rest = workflows.canvas.rest_of_chain(amqp, chain_wf, ids, ids[0])
        assert [r.kwargs["step_id"] for r in rest] == ids[1:] and {r.options["priority"] for r in rest} == {4}
        assert workflows.canvas.rest_of_chain(amqp, chain_wf, ids, ids[2]) == []
        with pytest.raises(InvalidInput, match="not a step"):
            workflows.canvas.rest_of_chain(amqp, chain_wf, ids, "nope")
    finally:
        amqp.close()


@pytest.mark.parametrize("raw, message", [
    ({"kind": "chain", "steps": [{"task": "app.tasks.nope"}]}, "Unknown task 'app.tasks.nope'"),
    ({"kind": "chain", "steps": [{"task": A + "translate_text", "kwargs": {"text": "hi", "target_language": "de"}},
                                 {"task": E + "send_email", "kwargs": {"to_email": "a@example.com", "subject": "s"},
                                  "feed": {"body": "outputs.stats"}}]}, "result has no 'outputs.stats'"),
    ({"kind": "chain", "steps": [{"task": F + "process_word_document", "kwargs": {"file_path": "{doc}"}},
                                 {"task": E + "send_email", "kwargs": {"to_email": "a@example.com", "subject": "s"},
                                  "feed": {"body": "outputs.stats"}}]}, "outputs.stats (an object) does not fit body"),
    ({"kind": "chain", "steps": [{"task": F + "process_word_document", "kwargs": {"file_path": "{doc}"}},
                                 {"task": A + "translate_text", "kwargs": {"target_language": "de"},
                                  "feed": {"text": "outputs.text_file"}}]}, "(a text file) does not fit text (text)"),
    ({"kind": "chain", "steps": [{"task": F + "process_word_document",
                                  "kwargs": {"file_path": "{data}/uploads/gone/missing.docx"}}]},
     "the stored file is missing: missing.docx"),
    ({"kind": "chain", "steps": [{"task": F + "process_word_document", "kwargs": {"file_path": ""}}]},
     "choose a stored file for file_path"),
    ({"kind": "chain", "steps": [{"task": E + "send_email", "kwargs": {"subject": "s", "body": "b"}}]},
     "missing a required argument: 'to_email'"),
    ({"kind": "group", "steps": [{"task": A + "translate_text", "kwargs": {"target_language": "de"},
                                  "feed": {"text": "content"}}]}, "nothing comes before this step"),
    ({"kind": "chord", "steps": _items(2)}, "A chord needs a callback"),
    ({"kind": "loop", "steps": _items(1)}, "kind must be one of chain, group, chord"),
])
def test_bad_workflows_are_refused_with_a_clear_error_and_nothing_sent(raw, message, docx, data_dir, redis_client):
    def fill(value):
        if isinstance(value, str):
            return value.replace("{doc}", docx).replace("{data}", str(data_dir))
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return [fill(v) for v in value] if isinstance(value, list) else value

    before = redis_client.zcard("cc:idx:all")
    with pytest.raises(InvalidInput) as err:
        wf = workflows.Workflow.from_dict({"name": "bad", **fill(raw)})
        saved.run(celery_app, redis_client, wf, data_dir)
    assert message in str(err.value)
    runtime.get().writer.flush()
    assert redis_client.zcard("cc:idx:all") == before


def test_the_workflows_domain_imports_no_streamlit():
    import ast

    from tests.conftest import ROOT

    for path in (ROOT / "app" / "workflows").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "streamlit" for n in names), path
