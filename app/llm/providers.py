"""The two AI providers behind the official SDKs: clients, one call each, and their errors.

`anthropic` is the Messages API (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL); `openai` is the Chat
Completions API (OPENAI_API_KEY, OPENAI_BASE_URL), so any OpenAI-compatible server works by
setting its base URL. Clients are built per call from the settings, with the SDK's own retries
bounded by AI_SDK_MAX_RETRIES and each HTTP attempt bounded by AI_REQUEST_TIMEOUT_S.

Retry-After: the SDKs wait for a Retry-After themselves. A wait longer than AI_MAX_RETRY_AFTER_S
is not slept inside the worker: the response is marked ``x-should-retry: false`` (a header both
SDKs obey), the SDK raises at once, and the Celery task retries with that countdown instead.
Keys are passed to the SDK only; they never appear in messages raised from here.
"""
from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

import httpx2

from app.errors import ConsoleError, InvalidInput, NotConfigured, ProviderBusy, ProviderRejected

PROVIDERS = ("anthropic", "openai")
LABELS = MappingProxyType({"anthropic": "Anthropic", "openai": "OpenAI"})
KEY_SETTING = MappingProxyType({"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"})
BASE_URL_SETTING = MappingProxyType({"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"})


def sdks():
    """The two SDK modules, imported on first use (together about 120 MB of RSS, which workers of
    the other queues then never pay)."""
    import anthropic
    import openai

    return anthropic, openai


def sdk_errors() -> tuple[type[Exception], ...]:
    """Base error classes of both SDKs."""
    anthropic, openai = sdks()
    return (anthropic.AnthropicError, openai.OpenAIError)

#: Statuses retried (SDK first, then Celery): timeouts, conflicts, rate limits, server errors.
TRANSIENT_STATUSES = frozenset({408, 409, 429})


@dataclass
class Attempts:
    """What the HTTP layer saw during one call: attempts made, last status, request id, Retry-After."""

    count: int = 0
    status: int | None = None
    request_id: str | None = None
    retry_after_s: float | None = None
    statuses: list[int] = field(default_factory=list)


@dataclass
class Reply:
    """One model answer: text, the model that answered, token counts (None if not reported)."""

    content: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    stop_reason: str | None


def check_provider(provider: str) -> str:
    """`provider` lower-cased. Raises InvalidInput when it is not 'anthropic' or 'openai'."""
    name = str(provider or "").strip().lower()
    if name not in PROVIDERS:
        raise InvalidInput(f"Unknown AI provider {provider!r}: choose one of {', '.join(PROVIDERS)}.")
    return name


def is_configured(settings, provider: str) -> bool:
    """True when the provider's API key setting is set and not blank."""
    secret = getattr(settings, KEY_SETTING[check_provider(provider)])
    return secret is not None and bool(secret.get_secret_value().strip())


def api_key(settings, provider: str) -> str:
    """The provider's API key. Raises NotConfigured when it is not set."""
    provider = check_provider(provider)
    if not is_configured(settings, provider):
        raise NotConfigured(f"{LABELS[provider]} is not configured: set {KEY_SETTING[provider]} in the "
                            "environment or .env, then restart the console and the workers.")
    return getattr(settings, KEY_SETTING[provider]).get_secret_value().strip()


def default_model(settings, provider: str) -> str:
    """The model used when a caller gives none (AI_ANTHROPIC_MODEL / AI_OPENAI_MODEL)."""
    return settings.AI_ANTHROPIC_MODEL if check_provider(provider) == "anthropic" else settings.AI_OPENAI_MODEL


def parse_retry_after_s(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date), else None.

    Source: RFC 9110 section 10.2.3 (Retry-After); ``retry-after-ms`` is what both SDKs also read.
    """
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            return max(0.0, parsed.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def _hooks(attempts: Attempts, max_wait_s: float) -> dict:
    def on_request(request):
        attempts.count += 1

    def on_response(response):
        attempts.status = response.status_code
        attempts.statuses.append(response.status_code)
        attempts.request_id = (response.headers.get("request-id") or response.headers.get("x-request-id")
                               or attempts.request_id)
        attempts.retry_after_s = parse_retry_after_s(response.headers)
        transient = response.status_code in TRANSIENT_STATUSES or response.status_code >= 500
        if transient and attempts.retry_after_s is not None and attempts.retry_after_s > max_wait_s:
            response.headers["x-should-retry"] = "false"

    return {"request": [on_request], "response": [on_response]}


def client(settings, provider: str, attempts: Attempts):
    """A new SDK client for `provider` (use as a context manager; it closes its connections).

    Raises:
        NotConfigured: the provider's key is not set.
    """
    provider = check_provider(provider)
    key = api_key(settings, provider)
    timeout = httpx2.Timeout(settings.AI_REQUEST_TIMEOUT_S, connect=min(10.0, settings.AI_REQUEST_TIMEOUT_S))
    hooks = _hooks(attempts, settings.AI_MAX_RETRY_AFTER_S)
    base_url = getattr(settings, BASE_URL_SETTING[provider]) or None
    common = dict(api_key=key, max_retries=settings.AI_SDK_MAX_RETRIES, timeout=timeout)
    anthropic, openai = sdks()
    if provider == "anthropic":
        return anthropic.Anthropic(base_url=base_url, http_client=anthropic.DefaultHttpxClient(event_hooks=hooks),
                                   **common)
    return openai.OpenAI(base_url=base_url, http_client=openai.DefaultHttpxClient(event_hooks=hooks), **common)


def send(sdk_client, provider: str, *, model: str, messages: list[dict], system: str | None,
         max_tokens: int, temperature: float | None, on_delta: Callable[[str], None] | None,
         official_openai: bool = True) -> Reply:
    """One call: streamed (SSE) when `on_delta` is given, which then receives each text delta.

    Anthropic gets `temperature` in the request body only when set. OpenAI gets
    ``max_completion_tokens`` on api.openai.com and ``max_tokens`` on other (compatible) servers.
    Raises the SDK's errors (see `to_console_error`).
    """
    if provider == "anthropic":
        kwargs: dict = dict(model=model, max_tokens=max_tokens, messages=messages)
        if system:
            kwargs["system"] = system
        if temperature is not None:
            kwargs["extra_body"] = {"temperature": temperature}
        if on_delta is None:
            msg = sdk_client.messages.create(**kwargs)
        else:
            with sdk_client.messages.stream(**kwargs) as stream:
                for delta in stream.text_stream:
                    on_delta(delta)
                msg = stream.get_final_message()
        text = "".join(getattr(b, "text", "") for b in msg.content if getattr(b, "type", "") == "text")
        usage = msg.usage
        return Reply(text, msg.model or model, getattr(usage, "input_tokens", None),
                     getattr(usage, "output_tokens", None), msg.stop_reason)

    chat = ([{"role": "system", "content": system}] if system else []) + list(messages)
    kwargs = dict(model=model, messages=chat)
    kwargs["max_completion_tokens" if official_openai else "max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    if on_delta is None:
        resp = sdk_client.chat.completions.create(**kwargs)
        choice = resp.choices[0] if resp.choices else None
        usage = resp.usage
        return Reply((choice.message.content or "") if choice else "", resp.model or model,
                     getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None),
                     choice.finish_reason if choice else None)
    parts: list[str] = []
    answered_model, usage, finish = model, None, None
    stream = sdk_client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    with stream:
        for chunk in stream:
            answered_model = chunk.model or answered_model
            usage = chunk.usage or usage
            for choice in chunk.choices or []:
                if choice.delta and choice.delta.content:
                    parts.append(choice.delta.content)
                    on_delta(choice.delta.content)
                finish = choice.finish_reason or finish
    return Reply("".join(parts), answered_model, getattr(usage, "prompt_tokens", None),
                 getattr(usage, "completion_tokens", None), finish)


def _provider_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            kind = inner.get("type") or inner.get("code")
            return f"{inner['message']}" + (f" ({kind})" if kind else "")
    return str(getattr(exc, "message", None) or exc)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret (of 6+ characters) replaced by ***, cut to 600 characters."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return text if len(text) <= 600 else text[:599] + "…"


def to_console_error(exc: Exception, provider: str, settings, attempts: Attempts) -> ConsoleError:
    """Map an SDK error to ProviderBusy (retry: 408/409/429/5xx, timeout, connection) or ProviderRejected.

    The message names the provider, the HTTP status and the provider's own message, with the
    configured keys scrubbed out, and how many HTTP attempts this call made.
    """
    name = LABELS[provider]
    secrets = [s.get_secret_value() for s in (settings.ANTHROPIC_API_KEY, settings.OPENAI_API_KEY) if s]
    tries = f" [{attempts.count} HTTP attempt{'s' if attempts.count != 1 else ''}]"
    anthropic, openai = sdks()
    if isinstance(exc, (anthropic.APITimeoutError, openai.APITimeoutError)):
        return ProviderBusy(f"{name} did not answer within {settings.AI_REQUEST_TIMEOUT_S:g} s "
                            f"(timeout, AI_REQUEST_TIMEOUT_S).{tries}")
    if isinstance(exc, (anthropic.APIConnectionError, openai.APIConnectionError)):
        where = getattr(settings, BASE_URL_SETTING[provider]) or "its default URL"
        return ProviderBusy(scrub(f"Cannot connect to {name} at {where}: {exc}.{tries}", secrets))
    if isinstance(exc, (anthropic.APIStatusError, openai.APIStatusError)):
        status = exc.status_code
        message = scrub(_provider_message(exc), secrets)
        if status in TRANSIENT_STATUSES or status >= 500:
            return ProviderBusy(f"{name} answered HTTP {status}: {message}{tries}",
                                retry_after_s=parse_retry_after_s(exc.response.headers))
        hint = {401: f" Check {KEY_SETTING[provider]}.", 403: f" Check {KEY_SETTING[provider]} and its permissions.",
                404: " Check the model name and the base URL."}.get(status, "")
        return ProviderRejected(f"{name} refused the request (HTTP {status}): {message}.{hint}{tries}")
    return ProviderRejected(scrub(f"{name} returned an answer the console cannot read: {exc}{tries}", secrets))
