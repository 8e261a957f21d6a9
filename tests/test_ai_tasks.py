"""AI tasks through a real worker against the fake Anthropic/OpenAI server (real SDKs, real HTTP).

Expected values are worked out here from what the server was sent and from the published
prices (USD per 1M tokens: claude-sonnet-5-5 2/10, gpt-5.4-mini 0.75/4.50), not read back
from the code under test.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import docx
import pytest

from app.store import history, keys
from tests.conftest import wait_for
from tests.fixtures_ai import ANTHROPIC_KEY, words

pytestmark = pytest.mark.usefixtures("celery_worker")


def run(task, *args, timeout_s=60, **kwargs):
    """Queue a task and poll until it is ready (no get(): a blocking get on a replaced batch
    leaves its group's results registered in this process after Redis stops)."""
    result = task.apply_async(args=args, kwargs=kwargs)
    wait_for(result.ready, timeout_s, interval_s=0.02)
    return result


def served(fake_ai, api=None):
    return [r for r in fake_ai.requests if api in (None, r["api"])]


def unsubscribe_in_process(task_ids):
    """Drop the worker threads' pub/sub subscriptions to these tasks' results while Redis is up.

    The test worker runs in this process. When a task applies a group (the batch's chord),
    Celery's group barrier subscribes the worker thread's result backend to every member's
    result, and nothing drains it there; left alone, the members would try to unsubscribe at
    interpreter exit, after the session's Redis has stopped (20 s of reconnect retries).
    """
    import gc

    from celery.result import AsyncResult

    ids = set(task_ids)
    for obj in gc.get_objects():
        if isinstance(obj, AsyncResult) and obj.id in ids:
            obj.backend.remove_pending_result(obj)


def stored_history(redis_client, task_id):
    return wait_for(lambda: (t := history.get_task(redis_client, task_id)) and t.get("state") in
                    ("SUCCESS", "FAILURE") and t)


def test_claude_completion_streams_text_and_counts_tokens_and_cost(fake_ai, redis_client):
    from app.tasks.ai_tasks import claude_completion

    answer = " ".join(f"word{i}" for i in range(40))
    fake_ai.push(dict(text=answer, piece_delay_s=0.03))
    res = claude_completion.apply_async(args=["Write forty words please"], kwargs={"max_tokens": 300})
    partials = []
    deadline = time.monotonic() + 30
    while not res.ready() and time.monotonic() < deadline:
        meta = res.backend.get_task_meta(res.id)  # state and info of one read (they can change between two)
        info = meta.get("result")
        if meta.get("status") == "PROGRESS" and isinstance(info, dict) and info.get("partial_text"):
            partials.append(info["partial_text"])
        time.sleep(0.02)
    wait_for(res.ready, 10)
    assert res.state == "SUCCESS", res.traceback
    out = res.result
    assert out["content"] == answer
    assert partials and all(answer.startswith(p) for p in partials) and len(partials[0]) < len(answer)
    assert out["provider"] == "anthropic" and out["model"] == "claude-sonnet-5-5"
    sent = served(fake_ai)[0]
    assert sent["body"]["stream"] is True and sent["body"]["max_tokens"] == 300
    assert out["usage"] == {"input_tokens": 4, "output_tokens": 40}
    assert out["cost_usd"] == pytest.approx((4 * 2.00 + 40 * 10.00) / 1e6)
    assert out["request_id"] == "req_anthropic_1" and out["attempts"] == 1 and out["latency_ms"] > 0
    entry = stored_history(redis_client, res.id)
    assert entry["queue"] == "ai_queue" and entry["name"] == "app.tasks.ai_tasks.claude_completion"
    assert ANTHROPIC_KEY not in str(entry)


def test_openai_completion_with_system_prompt_and_compatible_server(fake_ai):
    from app.tasks.ai_tasks import openai_completion

    res = run(openai_completion, "Say hello", system="Be brief.", max_tokens=50, temperature=0.2)
    assert res.state == "SUCCESS", res.traceback
    body = served(fake_ai, "openai")[0]["body"]
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    # OPENAI_BASE_URL points at another server: the widely supported max_tokens is sent.
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body and body["temperature"] == 0.2
    out = res.result
    expected = "Answer to 9 characters: Say hello"
    assert out["content"] == expected
    assert out["usage"] == {"input_tokens": 4, "output_tokens": words(expected)}
    assert out["cost_usd"] == pytest.approx((4 * 0.75 + words(expected) * 4.50) / 1e6)
    assert out["request_id"] == "req_openai_1"


def test_unpriced_model_counts_tokens_with_cost_unknown(fake_ai):
    from app.tasks.ai_tasks import openai_completion

    res = run(openai_completion, "Hi there", model="llama-3.3-70b-local")
    assert res.state == "SUCCESS", res.traceback
    assert res.result["model"] == "llama-3.3-70b-local"
    assert res.result["usage"]["output_tokens"] > 0 and res.result["cost_usd"] is None


def test_429_with_retry_after_then_success_in_one_delivery(fake_ai, redis_client):
    from app.tasks.ai_tasks import claude_completion

    fake_ai.push(dict(status=429, retry_after=0.4, message="rate limited"))
    res = run(claude_completion, "Hello")
    assert res.state == "SUCCESS", res.traceback
    reqs = served(fake_ai)
    assert len(reqs) == 2 and res.result["attempts"] == 2
    assert reqs[1]["t"] - reqs[0]["t"] >= 0.4  # the SDK waited as Retry-After said
    assert reqs[1]["retry_count"] == "1"
    entry = stored_history(redis_client, res.id)
    assert int(entry.get("retries") or 0) == 0  # one Celery delivery: the SDK retried inside it


def test_long_retry_after_becomes_a_celery_countdown(fake_ai, redis_client):
    from app.tasks.ai_tasks import claude_completion

    fake_ai.setenv("AI_MAX_RETRY_AFTER_S", "0.2")
    fake_ai.push(dict(status=429, retry_after=1.5))
    res = run(claude_completion, "Hello")
    assert res.state == "SUCCESS", res.traceback
    reqs = served(fake_ai)
    assert len(reqs) == 2  # the SDK did not retry a wait longer than AI_MAX_RETRY_AFTER_S
    assert reqs[1]["t"] - reqs[0]["t"] >= 1.5
    assert int(stored_history(redis_client, res.id)["retries"]) == 1


def test_500_until_retries_run_out_is_bounded(fake_ai, redis_client):
    from app.tasks.ai_tasks import MAX_RETRIES, claude_completion

    fake_ai.default = dict(status=500, message="internal trouble")
    res = run(claude_completion, "Hello")
    assert res.state == "FAILURE"
    message = str(res.result)
    assert type(res.result).__name__ == "ProviderBusy"
    assert "HTTP 500" in message and "internal trouble" in message and "Gave up after 4 deliveries" in message
    # (1 + max_retries) deliveries × (1 + AI_SDK_MAX_RETRIES) HTTP attempts each, no more.
    assert fake_ai.count() == (1 + MAX_RETRIES) * (1 + 1) == 8
    assert int(stored_history(redis_client, res.id)["retries"]) == MAX_RETRIES


@pytest.mark.parametrize("status, message", [
    (401, None), (400, "max_tokens: must be at most 64000"), (403, "model not allowed"), (404, "model: not found"),
])
def test_client_errors_fail_at_once_with_the_providers_message(fake_ai, redis_client, status, message):
    from app.tasks.ai_tasks import openai_completion

    wrong_key = "sk-openai-wrong-key-424242"
    if status == 401:
        fake_ai.setenv("OPENAI_API_KEY", wrong_key)
    else:
        fake_ai.push(dict(status=status, message=message))
    res = run(openai_completion, "Hello")
    assert res.state == "FAILURE"
    assert type(res.result).__name__ == "ProviderRejected"
    assert f"HTTP {status}" in str(res.result) and fake_ai.count() == 1
    if status == 401:
        assert "Incorrect API key provided" in str(res.result) and "OPENAI_API_KEY" in str(res.result)
        entry = stored_history(redis_client, res.id)
        raw = redis_client.hgetall(keys.task(res.id))
        assert wrong_key not in str(res.result) and wrong_key not in str(raw) and wrong_key not in str(entry)
    else:
        assert message in str(res.result)


def test_timeouts_retry_then_fail_with_a_clear_message(fake_ai):
    from app.tasks.ai_tasks import claude_completion

    fake_ai.setenv("AI_REQUEST_TIMEOUT_S", "0.3")
    fake_ai.setenv("AI_SDK_MAX_RETRIES", "0")
    fake_ai.default = dict(delay_s=1.0)
    started = time.monotonic()
    res = run(claude_completion, "Hello")
    assert res.state == "FAILURE"
    assert "did not answer within 0.3 s" in str(res.result)
    assert fake_ai.count() == 4  # 1 + 3 Celery retries, no SDK retries
    assert time.monotonic() - started < 20


def test_slow_answer_once_then_success(fake_ai):
    from app.tasks.ai_tasks import claude_completion

    fake_ai.setenv("AI_REQUEST_TIMEOUT_S", "0.3")
    fake_ai.push(dict(delay_s=1.0))
    res = run(claude_completion, "Hello")
    assert res.state == "SUCCESS" and res.result["attempts"] == 2 and fake_ai.count() == 2


def test_missing_key_fails_before_any_request(fake_ai):
    from app.tasks.ai_tasks import claude_completion

    fake_ai.delenv("ANTHROPIC_API_KEY")
    res = run(claude_completion, "Hello")
    assert res.state == "FAILURE"
    assert type(res.result).__name__ == "NotConfigured" and "ANTHROPIC_API_KEY" in str(res.result)
    assert fake_ai.count() == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt=""), "prompt is empty"),
    (dict(prompt="hi", max_tokens=0), "max_tokens"),
    (dict(prompt="hi", temperature=1.5), "temperature must be from 0 to 1"),
])
def test_bad_input_fails_without_a_request(fake_ai, kwargs, message):
    from app.tasks.ai_tasks import claude_completion

    res = run(claude_completion, **kwargs)
    assert res.state == "FAILURE" and message in str(res.result) and fake_ai.count() == 0


def _docx_text(path: Path) -> str:
    return "\n\n".join(p.text for p in docx.Document(str(path)).paragraphs if p.text.strip())


def _document_in(body: dict) -> str:
    return re.search(r"<document>\n(.*)\n</document>", body["messages"][-1]["content"], re.S).group(1)


def test_long_document_is_split_into_parts_and_combined(fake_ai, corpus):
    from app.tasks.ai_tasks import analyze_document

    fake_ai.setenv("AI_DOCUMENT_CHUNK_TOKENS", "150")
    text = _docx_text(corpus / "docx" / "google-docs_no_docprops.docx")
    fake_ai.responder = lambda api, body: ("COMBINED SUMMARY" if "summaries of consecutive parts" in
                                           body["messages"][-1]["content"] else f"partial {len(_document_in(body))}")
    fake_ai.default = dict(piece_delay_s=0.05)
    res = analyze_document.apply_async(kwargs=dict(document_text=text, analysis_type="summary"))
    messages = set()
    while not res.ready():
        if res.state == "PROGRESS" and isinstance(res.info, dict):
            messages.add(res.info.get("message"))
        time.sleep(0.01)
    assert res.state == "SUCCESS", res.traceback
    out = res.result
    reqs = served(fake_ai)
    assert out["parts"] >= 3 and len(reqs) == out["parts"] + 1
    pieces = [_document_in(r["body"]) for r in reqs[:-1]]
    assert all(len(p) <= 150 * 4 for p in pieces)
    assert re.sub(r"\s+", "", "".join(pieces)) == re.sub(r"\s+", "", text)  # every character sent once, in order
    combine = reqs[-1]["body"]["messages"][-1]["content"]
    assert all(f"partial {len(p)}" in combine for p in pieces)
    assert out["content"] == "COMBINED SUMMARY"
    assert {f"part {i + 1} of {out['parts'] + 1}" for i in range(out["parts"])} & messages
    assert out["usage"]["input_tokens"] == sum(words(r["body"]["messages"][0]["content"]) +
                                               words(r["body"]["system"]) for r in reqs)


@pytest.mark.parametrize("analysis_type, answers, check", [
    ("key_points", ['{"key_points": ["Alpha rises", "Beta falls"]}', '```json\n{"key_points": ["beta falls", "Gamma"]}\n```'],
     lambda o: o["key_points"] == ["Alpha rises", "Beta falls", "Gamma"] and o["content"].startswith("- Alpha rises")),
    ("sentiment", ['{"label": "positive", "score": 0.8, "rationale": "Good."}',
                   '{"label": "negative", "score": -0.8, "rationale": "Bad."}'],
     lambda o: o["sentiment"]["label"] == "mixed" and -0.8 <= o["sentiment"]["score"] <= 0.8),
    ("entities", ['{"entities": [{"name": "Apache", "type": "organization"}]}',
                  '{"entities": [{"name": "apache", "type": "organization"}, {"name": "Paris", "type": "location"}]}'],
     lambda o: o["entities"] == [{"name": "Apache", "type": "organization"}, {"name": "Paris", "type": "location"}]),
])
def test_structured_analyses_merge_their_parts(fake_ai, analysis_type, answers, check):
    from app.tasks.ai_tasks import analyze_document

    fake_ai.setenv("AI_DOCUMENT_CHUNK_TOKENS", "100")
    text = "First part sentence here. " * 14 + "\n\n" + "Second part sentence here. " * 14
    fake_ai.responder = lambda api, body: answers[0] if "part 1 of" in body["messages"][-1]["content"] else answers[1]
    res = run(analyze_document, text, analysis_type, "openai")
    assert res.state == "SUCCESS", res.traceback
    assert res.result["parts"] == 2 and res.result["parse_errors"] == 0 and check(res.result)
    assert res.result["provider"] == "openai"


def test_analyze_a_processed_uploads_text_file(fake_ai, corpus, stored):
    from app.tasks.ai_tasks import analyze_document
    from app.tasks.file_tasks import process_word_document

    processed = run(process_word_document, stored(corpus / "docx" / "google-docs_no_docprops.docx"), ["extract_text"])
    assert processed.state == "SUCCESS", processed.traceback
    text_file = processed.result["outputs"]["text_file"]
    res = run(analyze_document, analysis_type="summary", text_file=text_file)
    assert res.state == "SUCCESS", res.traceback
    assert _document_in(served(fake_ai)[0]["body"]) == Path(text_file).read_text(encoding="utf-8").strip()
    assert res.result["text_file"] == text_file


def test_text_file_outside_data_dir_is_refused(fake_ai, tmp_path):
    from app.tasks.ai_tasks import analyze_document

    outside = tmp_path / "secret.txt"
    outside.write_text("not yours")
    res = run(analyze_document, analysis_type="summary", text_file=str(outside))
    assert res.state == "FAILURE" and "outside the data directory" in str(res.result) and fake_ai.count() == 0


def test_generate_content(fake_ai):
    from app.tasks.ai_tasks import generate_content

    res = run(generate_content, "blog_post", "Why queues beat cron jobs", tone="friendly", length="short")
    assert res.state == "SUCCESS", res.traceback
    body = served(fake_ai)[0]["body"]
    prompt = body["messages"][0]["content"]
    assert "blog post" in prompt and "friendly" in prompt and "Why queues beat cron jobs" in prompt
    assert body["max_tokens"] == 600
    assert res.result["content_type"] == "blog_post" and res.result["content"].startswith("Answer to")
    bad = run(generate_content, "poem", "x")
    assert bad.state == "FAILURE" and "Unknown content_type 'poem'" in str(bad.result) and fake_ai.count() == 1


def test_translate_text(fake_ai):
    from app.tasks.ai_tasks import translate_text

    fake_ai.push(dict(text="Bonjour le monde"))
    res = run(translate_text, "Hello world", "French", "English")
    assert res.state == "SUCCESS", res.traceback
    prompt = served(fake_ai)[0]["body"]["messages"][0]["content"]
    assert "from English into French" in prompt and "<document>\nHello world\n</document>" in prompt
    assert res.result["content"] == "Bonjour le monde" and res.result["target_language"] == "French"


def test_chat_completion_sends_the_whole_conversation(fake_ai):
    from app.tasks.ai_tasks import chat_completion

    conversation = [{"role": "user", "content": "My name is Ada."},
                    {"role": "assistant", "content": "Hello Ada."},
                    {"role": "user", "content": "What is my name?"}]
    fake_ai.push(dict(text="Your name is Ada."))
    res = run(chat_completion, conversation, "openai", system="Be kind.")
    assert res.state == "SUCCESS", res.traceback
    assert served(fake_ai)[0]["body"]["messages"] == [{"role": "system", "content": "Be kind."}, *conversation]
    assert res.result["content"] == "Your name is Ada."
    bad = run(chat_completion, conversation[:2], "openai")
    assert bad.state == "FAILURE" and "last message must come from the user" in str(bad.result)


def test_batch_runs_as_a_group_with_per_request_results_and_summary(fake_ai):
    from app.tasks.ai_tasks import batch_ai_requests

    fake_ai.router = lambda api, body: (dict(status=400, message="prompt rejected")
                                        if "REJECT" in str(body["messages"]) else None)
    requests = [{"type": "completion", "provider": "anthropic", "prompt": "one two three"},
                {"type": "completion", "provider": "openai", "prompt": "REJECT me"},
                {"type": "translation", "provider": "openai", "text": "Hello", "target_language": "German"},
                {"prompt": "default type and provider"}]
    res = run(batch_ai_requests, requests, timeout_s=90)
    assert res.state == "SUCCESS", res.traceback
    results, summary = res.result["results"], res.result["summary"]
    unsubscribe_in_process(r["task_id"] for r in results)
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == ["succeeded", "failed", "succeeded", "succeeded"]
    assert "prompt rejected" in results[1]["error"] and "ProviderRejected" in results[1]["error"]
    ok = [r["result"] for r in results if r["status"] == "succeeded"]
    assert summary["total"] == 4 and summary["succeeded"] == 3 and summary["failed"] == 1
    assert summary["input_tokens"] == sum(r["usage"]["input_tokens"] for r in ok)
    assert summary["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in ok)) and summary["cost_complete"]
    assert fake_ai.count() == 4
    assert results[0]["result"]["provider"] == "anthropic" and results[2]["result"]["provider"] == "openai"


@pytest.mark.parametrize("requests, message", [
    ([], "batch is empty"),
    ([{"type": "poem", "prompt": "x"}], "Request 1: unknown type 'poem'"),
    ([{"prompt": "ok"}, {"prompt": "x", "colour": "red"}], "Request 2 (completion)"),
    ([{"prompt": "ok"}, {"prompt": "  "}], "Request 2 (completion): 'prompt' is empty"),
])
def test_bad_batch_fails_before_anything_runs(fake_ai, requests, message):
    from app.tasks.ai_tasks import batch_ai_requests

    res = run(batch_ai_requests, requests)
    assert res.state == "FAILURE" and message in str(res.result) and fake_ai.count() == 0


def test_batch_with_an_unconfigured_provider_fails_at_once(fake_ai):
    from app.tasks.ai_tasks import batch_ai_requests

    fake_ai.delenv("OPENAI_API_KEY")
    res = run(batch_ai_requests, [{"prompt": "a"}, {"provider": "openai", "prompt": "b"}])
    assert res.state == "FAILURE" and "OPENAI_API_KEY" in str(res.result) and fake_ai.count() == 0


def test_declared_policy_matches_seed_003():
    from app.tasks import ai_tasks
    from config.settings import Settings, get_settings

    assert Settings.model_fields["AI_RATE_LIMIT"].default == "10/m"
    assert Settings.model_fields["AI_RETRY_COUNTDOWN_S"].default == 10.0
    for name in ("claude_completion", "openai_completion", "analyze_document", "generate_content",
                 "translate_text", "chat_completion", "batch_ai_requests"):
        task = getattr(ai_tasks, name)
        assert task.name == f"app.tasks.ai_tasks.{name}"
        assert task.max_retries == 3 and task.time_limit == 600
        assert task.rate_limit == (get_settings().AI_RATE_LIMIT or None)
    assert [ai_tasks.retry_countdown_s(n, None, 10.0) for n in range(3)] == [10.0, 20.0, 40.0]
    assert ai_tasks.retry_countdown_s(0, 75.0, 10.0) == 75.0


def test_monitor_history_keeps_tokens_and_cost_of_a_long_answer(fake_ai, redis_client):
    from app.tasks.ai_tasks import claude_completion

    fake_ai.push(dict(text="lorem " * 3_000))
    res = run(claude_completion, "Write a lot")
    assert res.state == "SUCCESS", res.traceback
    entry = stored_history(redis_client, res.id)
    assert f'"cost_usd": {(3 * 2.00 + 3_000 * 10.00) / 1e6}' in entry["result"] and '"model": "claude-sonnet-5-5"' in entry["result"]
    # (The history's redaction masks any key containing "token", so the counts read "***" there;
    # the monitor's task detail reads them from the result backend.)
    assert res.result["usage"] == {"input_tokens": 3, "output_tokens": 3_000}
