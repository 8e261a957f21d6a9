"""AppTest for the AI page against real Redis, a real worker and the fake AI server."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, wait_for
from tests.fixtures_ai import ANTHROPIC_KEY
from tests.test_ai_tasks import unsubscribe_in_process

pytestmark = pytest.mark.usefixtures("celery_worker")
PAGE = str(ROOT / "pages" / "ai.py")


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def finished(task_id: str | None) -> bool:
    """The task has a result; None (the page already took the answer in and cleared its pending
    id: on a busy machine the rerun after a send can see the answer) counts as finished."""
    from celery.result import AsyncResult

    from config.celery_config import celery_app

    return task_id is None or AsyncResult(task_id, app=celery_app).ready()


def test_completion_runs_and_shows_text_tokens_and_cost(fake_ai):
    fake_ai.push(dict(text="Queues decouple producers from consumers."))
    at = page()
    at.tabs[0].text_area[0].input("Why use a task queue?")
    at.tabs[0].button[0].click().run()
    assert not at.exception, at.exception
    job = at.session_state["ai_jobs"]["completion"][0]
    wait_for(lambda: finished(job["id"]))
    at.run()
    assert not at.exception, at.exception
    assert "Queues decouple producers from consumers." in [c.value for c in at.code]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Input tokens"] == "5" and metrics["Output tokens"] == "5"
    assert metrics["Cost (USD)"] == f"${(5 * 2.00 + 5 * 10.00) / 1e6:.6f}"
    body = fake_ai.requests[0]["body"]
    assert body["messages"][-1]["content"] == "Why use a task queue?" and body["model"] == "claude-sonnet-5-5"
    assert ANTHROPIC_KEY not in str(at.session_state["ai_jobs"])


def test_missing_key_is_an_error_before_anything_is_queued(fake_ai):
    fake_ai.delenv("ANTHROPIC_API_KEY")
    at = page()
    assert any("ANTHROPIC_API_KEY" in e.value for e in at.error)
    at.tabs[0].text_area[0].input("Hello")
    at.tabs[0].button[0].click().run()
    assert not at.exception
    assert at.session_state["ai_jobs"].get("completion", []) == []
    assert fake_ai.count() == 0


def test_openai_model_choice_and_unpriced_model(fake_ai):
    at = page()
    at.selectbox(key="ai_provider").select("openai").run()
    at.text_input(key="ai_custom_openai").input("qwen2.5-7b-instruct").run()
    at.tabs[3].text_area[0].input("Good morning")
    at.tabs[3].text_input[0].input("Spanish")
    at.tabs[3].button[0].click().run()
    job = at.session_state["ai_jobs"]["translation"][0]
    wait_for(lambda: finished(job["id"]))
    at.run()
    assert not at.exception, at.exception
    assert fake_ai.requests[0]["api"] == "openai" and fake_ai.requests[0]["body"]["model"] == "qwen2.5-7b-instruct"
    assert "into Spanish" in fake_ai.requests[0]["body"]["messages"][-1]["content"]
    assert {m.label: m.value for m in at.metric}["Cost (USD)"] == "unknown"


def test_document_analysis_of_pasted_text_shows_sentiment(fake_ai):
    fake_ai.push(dict(text='{"label": "positive", "score": 0.7, "rationale": "Upbeat tone."}'))
    at = page()
    tab = at.tabs[1]
    tab.text_area[0].input("We shipped on time and customers love it.")
    tab.selectbox[0].select("sentiment")
    tab.button[0].click().run()
    job = at.session_state["ai_jobs"]["analysis"][0]
    wait_for(lambda: finished(job["id"]))
    at.run()
    assert not at.exception, at.exception
    assert any(m.label == "Sentiment" and m.value == "positive" for m in at.metric)
    assert "<document>\nWe shipped on time and customers love it.\n</document>" in \
        fake_ai.requests[0]["body"]["messages"][-1]["content"]


def test_chat_keeps_the_conversation(fake_ai):
    fake_ai.push(dict(text="Hello Ada."), dict(text="Your name is Ada."))
    at = page()
    at.chat_input(key="ai_chat_input").set_value("My name is Ada.").run()
    pending = at.session_state["ai_chat"]["pending"]
    wait_for(lambda: finished(pending))
    at.run()
    at.chat_input(key="ai_chat_input").set_value("What is my name?").run()
    wait_for(lambda: finished(at.session_state["ai_chat"]["pending"]))
    at.run()
    assert not at.exception, at.exception
    messages = at.session_state["ai_chat"]["messages"]
    assert [m["content"] for m in messages] == ["My name is Ada.", "Hello Ada.", "What is my name?", "Your name is Ada."]
    assert fake_ai.requests[1]["body"]["messages"] == messages[:3]
    assert "Your name is Ada." in [t.value for t in at.text]


def test_batch_lines_and_bad_json(fake_ai):
    at = page()
    tab = at.tabs[5]
    tab.text_area[0].input('[{"type": "translation", "text": "Hi"')
    tab.button[0].click().run()
    assert any("cannot be read" in e.value for e in at.error)
    assert at.session_state["ai_jobs"].get("batch", []) == []
    tab = at.tabs[5]
    tab.text_area[0].input("first prompt\n\nsecond prompt\n")
    tab.button[0].click().run()
    job = at.session_state["ai_jobs"]["batch"][0]
    wait_for(lambda: finished(job["id"]), 60)
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Requests"] == "2" and metrics["Succeeded"] == "2"
    assert sorted(r["body"]["messages"][0]["content"] for r in fake_ai.requests) == ["first prompt", "second prompt"]
    from celery.result import AsyncResult

    from config.celery_config import celery_app

    unsubscribe_in_process(i["task_id"] for i in AsyncResult(job["id"], app=celery_app).result["results"])


def test_document_analysis_of_a_processed_upload(fake_ai, corpus, stored):
    from app.tasks.file_tasks import process_word_document

    processed = process_word_document.apply_async(args=[stored(corpus / "docx" / "google-docs_no_docprops.docx"),
                                                        ["extract_text"]])
    wait_for(processed.ready, 60)
    text_file = processed.result["outputs"]["text_file"]
    at = page()
    at.tabs[1].radio(key="ai_doc_source").set_value("Processed upload").run()
    tab = at.tabs[1]
    options = tab.selectbox[0].options
    label = next(o for o in options if o.startswith(processed.id[:8]))
    tab.selectbox[0].select(label)
    tab.button[0].click().run()
    assert not at.exception, at.exception
    job = at.session_state["ai_jobs"]["analysis"][0]
    wait_for(lambda: finished(job["id"]))
    at.run()
    assert not at.exception, at.exception
    sent = fake_ai.requests[0]["body"]["messages"][-1]["content"]
    with open(text_file, encoding="utf-8") as f:
        assert f.read().strip() in sent
