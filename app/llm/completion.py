"""One model call with its accounting: `complete` (one prompt) and `converse` (a conversation).

Result shape (both): ``{'content': str, 'model': str, 'provider': 'anthropic'|'openai',
'usage': {'input_tokens': int|None, 'output_tokens': int|None}, 'cost_usd': float|None,
'latency_ms': int, 'request_id': str|None, 'attempts': int (HTTP attempts), 'stop_reason'}``.
`cost_usd` is None when the model has no price in `prices` (tokens are still counted).

Bounded attempts: one call makes at most AI_SDK_MAX_RETRIES + 1 HTTP attempts (the SDK's own
retries, waiting per Retry-After up to AI_MAX_RETRY_AFTER_S, else exponential backoff from 0.5 s
to 8 s). Callers that retry (the Celery tasks) multiply that by their own attempts.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from app.errors import InvalidInput
from app.llm import prices, providers
from config.settings import get_settings

MAX_OUTPUT_TOKENS = 128_000
MAX_PROMPT_CHARS = 2_000_000
ROLES = ("user", "assistant")


def complete(provider: str, prompt: str, *, system: str | None = None, model: str | None = None,
             max_tokens: int = 1024, temperature: float | None = None,
             on_text: Callable[[str], None] | None = None, settings=None) -> dict:
    """Send one prompt to `provider` and return the answer with tokens, cost and latency.

    Args:
        provider: 'anthropic' or 'openai' (or any OpenAI-compatible server via OPENAI_BASE_URL).
        model: default AI_ANTHROPIC_MODEL / AI_OPENAI_MODEL.
        max_tokens: 1..128000 output tokens. temperature: 0..2 (Anthropic accepts 0..1), or None.
        on_text: when given the answer is streamed and `on_text(text_so_far)` is called at most
            every AI_STREAM_UPDATE_S seconds, and once at the end.
    Returns: the result shape in the module docstring.
    Raises:
        InvalidInput: empty prompt, bad limits. NotConfigured: the provider's key is not set.
        ProviderRejected: 400/401/403/404/422 (not retried). ProviderBusy: 429/5xx/timeout/connection.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("The prompt is empty: write what the model should do.")
    return converse(provider, [{"role": "user", "content": prompt}], system=system, model=model,
                    max_tokens=max_tokens, temperature=temperature, on_text=on_text, settings=settings)


def check_messages(messages) -> list[dict]:
    """Messages as ``[{'role': 'user'|'assistant', 'content': str}]``, last one from the user.

    Raises: InvalidInput naming the first bad message.
    """
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("The conversation is empty: send at least one user message.")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise InvalidInput(f"Message {i + 1} must be {{'role': 'user' or 'assistant', 'content': text}}.")
        if not m["content"].strip():
            raise InvalidInput(f"Message {i + 1} is empty.")
        clean.append({"role": m["role"], "content": m["content"]})
    if clean[-1]["role"] != "user":
        raise InvalidInput("The last message must come from the user.")
    if sum(len(m["content"]) for m in clean) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"The conversation is over {MAX_PROMPT_CHARS:,} characters; shorten it.")
    return clean


def check_limits(provider: str, max_tokens, temperature) -> None:
    """Raises InvalidInput when max_tokens or temperature is out of the provider's range."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
        raise InvalidInput(f"max_tokens must be a whole number from 1 to {MAX_OUTPUT_TOKENS}.")
    top = 1.0 if provider == "anthropic" else 2.0
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not 0 <= temperature <= top):
        raise InvalidInput(f"temperature must be from 0 to {top:g} for {providers.LABELS[provider]}.")


def converse(provider: str, messages: list[dict], *, system: str | None = None, model: str | None = None,
             max_tokens: int = 1024, temperature: float | None = None,
             on_text: Callable[[str], None] | None = None, settings=None) -> dict:
    """Send a conversation (see `check_messages`) and return the next assistant answer.

    Same arguments, result and errors as `complete`.
    """
    settings = settings or get_settings()
    provider = providers.check_provider(provider)
    messages = check_messages(messages)
    check_limits(provider, max_tokens, temperature)
    model = (model or "").strip() or providers.default_model(settings, provider)
    attempts = providers.Attempts()
    chunks: list[str] = []
    last_push = [0.0]

    def on_delta(delta: str) -> None:
        chunks.append(delta)
        now = time.monotonic()
        if now - last_push[0] >= settings.AI_STREAM_UPDATE_S:
            last_push[0] = now
            on_text("".join(chunks))

    official = not settings.OPENAI_BASE_URL or "api.openai.com" in settings.OPENAI_BASE_URL
    started = time.monotonic()
    try:
        with providers.client(settings, provider, attempts) as sdk_client:
            reply = providers.send(sdk_client, provider, model=model, messages=messages, system=system,
                                   max_tokens=max_tokens, temperature=temperature,
                                   on_delta=on_delta if on_text else None, official_openai=official)
    except providers.sdk_errors() as exc:
        raise providers.to_console_error(exc, provider, settings, attempts) from None
    latency_ms = int((time.monotonic() - started) * 1000)
    if on_text:
        on_text(reply.content)
    cost = prices.cost_usd(reply.model, reply.input_tokens, reply.output_tokens)
    if cost is None:
        cost = prices.cost_usd(model, reply.input_tokens, reply.output_tokens)
    # Accounting first, content last: the task history keeps the first 2,000 characters of a
    # result, so the monitor shows tokens and cost even for long answers.
    return {"provider": provider, "model": reply.model,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
            "cost_usd": cost, "latency_ms": latency_ms, "request_id": attempts.request_id,
            "attempts": attempts.count, "stop_reason": reply.stop_reason, "content": reply.content}


def totals(results: list[dict]) -> dict:
    """Sum of several calls: ``{'usage', 'cost_usd' (None if any is unknown), 'latency_ms',
    'attempts', 'request_ids', 'model', 'provider'}`` (model/provider of the last call)."""
    def add(key):
        values = [r["usage"][key] for r in results]
        return None if any(v is None for v in values) else sum(values)

    costs = [r["cost_usd"] for r in results]
    return {"usage": {"input_tokens": add("input_tokens"), "output_tokens": add("output_tokens")},
            "cost_usd": None if not results or any(c is None for c in costs) else round(sum(costs), 8),
            "latency_ms": sum(r["latency_ms"] for r in results),
            "attempts": sum(r["attempts"] for r in results),
            "request_ids": [r["request_id"] for r in results],
            "request_id": results[-1]["request_id"] if results else None,
            "model": results[-1]["model"] if results else None,
            "provider": results[-1]["provider"] if results else None}
