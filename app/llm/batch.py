"""Batches of AI requests: checking them all before anything runs, running one, summing them up.

A request is a dict ``{'type': kind, 'provider': 'anthropic'|'openai', **arguments}`` where kind is
one of KINDS (default 'completion') and the arguments are those of the matching service function,
e.g. ``{'type': 'completion', 'provider': 'openai', 'prompt': 'Hi', 'max_tokens': 200}`` or
``{'type': 'translation', 'text': '...', 'target_language': 'French'}``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType

from app.errors import InvalidInput
from app.llm import providers
from app.llm.analysis import analyze_document
from app.llm.completion import complete, converse
from app.llm.generation import generate_content, translate_text

KINDS: Mapping[str, Callable] = MappingProxyType({
    "completion": complete,
    "chat": converse,
    "analysis": analyze_document,
    "generation": generate_content,
    "translation": translate_text,
})
#: The argument that must hold non-blank text for each kind.
MAIN_FIELD = MappingProxyType({"completion": "prompt", "chat": "messages", "analysis": "document_text",
                               "generation": "topic", "translation": "text"})
_CALLBACKS = frozenset({"on_text", "on_part", "settings"})


def check_requests(requests, settings, max_requests: int) -> list[dict]:
    """Every request checked (kind, provider key, argument names, main text) before any runs.

    Returns: the requests with 'type' and 'provider' filled in.
    Raises:
        InvalidInput: naming the first bad request (1-based), or for an empty / too long batch.
        NotConfigured: a request uses a provider whose key is not set.
    """
    if not isinstance(requests, list) or not requests:
        raise InvalidInput("The batch is empty: add at least one request.")
    if len(requests) > max_requests:
        raise InvalidInput(f"The batch has {len(requests)} requests; the limit is {max_requests} (AI_BATCH_MAX_REQUESTS).")
    clean = []
    for n, req in enumerate(requests, start=1):
        if not isinstance(req, dict):
            raise InvalidInput(f"Request {n} must be an object with a 'type' and its arguments.")
        req = dict(req)
        kind = req.pop("type", "completion")
        if kind not in KINDS:
            raise InvalidInput(f"Request {n}: unknown type {kind!r}; choose one of {', '.join(KINDS)}.")
        try:
            provider = providers.check_provider(req.pop("provider", "anthropic"))
        except InvalidInput as exc:
            raise InvalidInput(f"Request {n}: {exc}") from None
        providers.api_key(settings, provider)
        if _CALLBACKS & req.keys():
            raise InvalidInput(f"Request {n}: {', '.join(sorted(_CALLBACKS & req.keys()))} cannot be set in a batch.")
        try:
            inspect.signature(KINDS[kind]).bind(provider=provider, **req)
        except TypeError as exc:
            raise InvalidInput(f"Request {n} ({kind}): {exc}.") from None
        main = req.get(MAIN_FIELD[kind])
        if not main or (isinstance(main, str) and not main.strip()):
            raise InvalidInput(f"Request {n} ({kind}): '{MAIN_FIELD[kind]}' is empty.")
        clean.append({"type": kind, "provider": provider, **req})
    return clean


def run_request(request: dict, settings, on_text: Callable[[str], None] | None = None) -> dict:
    """Run one checked request; returns its service function's result. Raises as that function does."""
    args = dict(request)
    kind, provider = args.pop("type"), args.pop("provider")
    return KINDS[kind](provider=provider, **args, on_text=on_text, settings=settings)


def summarize(items: list[dict]) -> dict:
    """Summary of per-request items ``{'index', 'status': 'succeeded'|'failed', 'result'|'error'}``.

    Returns ``{'total', 'succeeded', 'failed', 'input_tokens', 'output_tokens', 'cost_usd'
    (sum over succeeded requests with a known price), 'cost_complete' (False when a price was
    unknown), 'latency_ms' (sum)}``.
    """
    ok = [i["result"] for i in items if i.get("status") == "succeeded"]
    costs = [r.get("cost_usd") for r in ok]
    return {"total": len(items), "succeeded": len(ok), "failed": len(items) - len(ok),
            "input_tokens": sum((r.get("usage") or {}).get("input_tokens") or 0 for r in ok),
            "output_tokens": sum((r.get("usage") or {}).get("output_tokens") or 0 for r in ok),
            "cost_usd": round(sum(c for c in costs if c is not None), 8),
            "cost_complete": all(c is not None for c in costs),
            "latency_ms": sum(r.get("latency_ms") or 0 for r in ok)}
