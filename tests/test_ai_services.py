"""app.llm without Celery: prices, chunking, parsing, errors, and direct calls to the fake server."""
from __future__ import annotations

import inspect
import re
import socket
from email.utils import formatdate

import pytest

from app.errors import InvalidInput, NotConfigured, ProviderBusy, ProviderRejected
from app import llm
from app.llm import analysis, chunking, prices, providers
from tests.fixtures_ai import ANTHROPIC_KEY


def test_complete_keeps_the_contract_other_features_call():
    params = inspect.signature(llm.complete).parameters
    assert list(params)[:2] == ["provider", "prompt"]
    assert {k: params[k].default for k in ("system", "model", "max_tokens", "temperature", "on_text")} == \
        {"system": None, "model": None, "max_tokens": 1024, "temperature": None, "on_text": None}
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in ("system", "model", "max_tokens"))


def test_prices_known_snapshot_and_unknown_models():
    # Published prices (USD per 1M tokens): claude-sonnet-5-5 2/10, gpt-5.4-mini 0.75/4.50.
    assert prices.cost_usd("claude-sonnet-5-5", 1_000_000, 1_000_000) == 12.0
    assert prices.cost_usd("gpt-5.4-mini-2026-03-17", 2_000, 1_000) == pytest.approx((2_000 * 0.75 + 1_000 * 4.5) / 1e6)
    assert prices.cost_usd("claude-haiku-4-5-20251001", 10, 10) == pytest.approx(10 * (1 + 5) / 1e6)
    assert prices.cost_usd("llama-3.3-70b", 100, 100) is None
    assert prices.cost_usd("claude-sonnet-5-5", None, 10) is None
    assert set(prices.known_models("anthropic")) | set(prices.known_models("openai")) == set(prices.PRICES_USD_PER_MTOK)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", prices.PRICES_READ_ON)


def test_token_estimate_and_split_keep_every_character():
    assert chunking.estimate_tokens("abcd" * 10) == 10
    assert chunking.estimate_tokens("東陽市") == 3
    text = ("Alpha beta gamma. " * 80 + "\n\n") * 3 + "東陽市" * 400 + "\n\n" + "x" * 3_000
    parts = chunking.split_text(text, 200)
    assert len(parts) > 5
    assert all(chunking.estimate_tokens(p) <= 200 for p in parts)
    assert re.sub(r"\s+", "", "".join(parts)) == re.sub(r"\s+", "", text)
    assert chunking.split_text(" \n\n ", 200) == []
    assert chunking.split_text("short", 200) == ["short"]
    assert chunking.part_budget_tokens(200_000, 4_000, 50_000) == 50_000
    assert chunking.part_budget_tokens(8_000, 4_000, 50_000) == 3_000


def test_parse_json_from_model_answers():
    assert analysis.parse_json('Sure!\n```json\n{"a": [1, 2]}\n```') == {"a": [1, 2]}
    assert analysis.parse_json("no json here") is None
    assert analysis.parse_json("[1, 2]") is None


def test_retry_after_forms():
    assert providers.parse_retry_after_s({"retry-after": "3"}) == 3.0
    assert providers.parse_retry_after_s({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert 8 <= providers.parse_retry_after_s({"retry-after": formatdate(__import__("time").time() + 10, usegmt=True)}) <= 10
    assert providers.parse_retry_after_s({"retry-after": "soon"}) is None
    assert providers.parse_retry_after_s({}) is None


def test_scrub_removes_keys():
    assert providers.scrub(f"bad key {ANTHROPIC_KEY}!", [ANTHROPIC_KEY]) == "bad key ***!"


def test_missing_key_and_bad_input_raise_before_any_request():
    from config.settings import Settings

    bare = Settings(ANTHROPIC_API_KEY=None, OPENAI_API_KEY="  ")
    with pytest.raises(NotConfigured, match="ANTHROPIC_API_KEY"):
        llm.complete("anthropic", "hi", settings=bare)
    with pytest.raises(NotConfigured, match="OPENAI_API_KEY"):
        llm.complete("openai", "hi", settings=bare)
    with pytest.raises(InvalidInput, match="Unknown AI provider"):
        llm.complete("gemini", "hi", settings=bare)
    with pytest.raises(InvalidInput, match="Message 2"):
        llm.converse("anthropic", [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}], settings=bare)
    with pytest.raises(InvalidInput, match="Unknown analysis_type"):
        llm.analyze_document("text", "poetry", settings=bare)


def test_direct_streaming_call_reports_growing_text(fake_ai):
    seen = []
    fake_ai.push(dict(text="one two three four five six", piece_delay_s=0.06))
    out = llm.complete("openai", "count please", on_text=seen.append)
    assert out["content"] == "one two three four five six"
    assert len(seen) >= 3 and seen[-1] == out["content"]
    assert all(out["content"].startswith(s) for s in seen) and len(seen[0]) < len(seen[-1])
    assert out["usage"] == {"input_tokens": 2, "output_tokens": 6}


def test_overloaded_and_unreachable_providers_are_transient(fake_ai):
    fake_ai.setenv("AI_SDK_MAX_RETRIES", "0")
    fake_ai.push(dict(status=529, message="Overloaded", retry_after=7))
    with pytest.raises(ProviderBusy, match="HTTP 529: Overloaded") as err:
        llm.complete("anthropic", "hi")
    assert err.value.retry_after_s == 7.0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    fake_ai.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{closed_port}")
    fake_ai.setenv("AI_SDK_MAX_RETRIES", "1")
    with pytest.raises(ProviderBusy, match="Cannot connect to Anthropic") as err:
        llm.complete("anthropic", "hi")
    assert "[2 HTTP attempts]" in str(err.value)


def test_rejections_name_the_fix(fake_ai):
    fake_ai.push(dict(status=404, message="model: claude-nope"))
    with pytest.raises(ProviderRejected, match=r"HTTP 404\): model: claude-nope .*Check the model name"):
        llm.complete("anthropic", "hi", model="claude-nope")
    assert fake_ai.count() == 1
