"""Writing and translating: `generate_content` (email, blog post, report, social post) and `translate_text`."""
from __future__ import annotations

from collections.abc import Callable

from app.errors import InvalidInput
from app.llm import prompts, providers
from app.llm.analysis import check_document, split_for
from app.llm.completion import complete, totals
from config.settings import get_settings

MAX_TOPIC_CHARS = 20_000
MAX_TONE_CHARS = 60
MAX_LANGUAGE_CHARS = 60


def generate_content(content_type: str, topic: str, tone: str = "professional", length: str = "medium", *,
                     provider: str = "anthropic", model: str | None = None,
                     on_text: Callable[[str], None] | None = None, settings=None) -> dict:
    """Write a piece of content (the `generate_content` task).

    Args:
        content_type: email, blog_post, report or social_post. topic: the brief (up to 20,000 chars).
        tone: free text up to 60 chars (e.g. friendly, formal). length: short (~120 words),
            medium (~350) or long (~900); sets max output tokens 600 / 1,500 / 3,500.
    Returns: the `completion.complete` result plus ``'content_type', 'tone', 'length'``.
    Raises: InvalidInput, NotConfigured, ProviderRejected, ProviderBusy.
    """
    if content_type not in prompts.CONTENT_TYPES:
        raise InvalidInput(f"Unknown content_type {content_type!r}: choose one of {', '.join(prompts.CONTENT_TYPES)}.")
    if length not in prompts.LENGTHS:
        raise InvalidInput(f"Unknown length {length!r}: choose one of {', '.join(prompts.LENGTHS)}.")
    if not isinstance(topic, str) or not topic.strip():
        raise InvalidInput("The topic is empty: say what the text should be about.")
    if len(topic) > MAX_TOPIC_CHARS:
        raise InvalidInput(f"The topic is over {MAX_TOPIC_CHARS:,} characters; shorten it.")
    tone = (tone or "professional").strip()
    if len(tone) > MAX_TONE_CHARS or "\n" in tone:
        raise InvalidInput(f"The tone must be one line of at most {MAX_TONE_CHARS} characters.")
    system, user = prompts.generation(content_type, topic, tone, length)
    result = complete(provider, user, system=system, model=model, max_tokens=prompts.LENGTHS[length][1],
                      on_text=on_text, settings=settings)
    return {**result, "content_type": content_type, "tone": tone, "length": length}


def translate_text(text: str, target_language: str, source_language: str | None = None, *,
                   provider: str = "anthropic", model: str | None = None, max_tokens: int = 4096,
                   on_text: Callable[[str], None] | None = None,
                   on_part: Callable[[int, int], None] | None = None, settings=None) -> dict:
    """Translate `text` into `target_language` (the `translate_text` task); long text goes in parts.

    Parts are at most 3/4 of `max_tokens` estimated tokens, so each translation fits its answer.
    Returns: `completion.totals` of the calls plus ``{'content': translation (parts joined by a
        blank line), 'target_language', 'source_language', 'parts'}``.
    Raises: InvalidInput, NotConfigured, ProviderRejected, ProviderBusy.
    """
    settings = settings or get_settings()
    check_document(text)
    for name, value in (("target_language", target_language), ("source_language", source_language)):
        if value is None and name == "source_language":
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_LANGUAGE_CHARS or "\n" in value:
            raise InvalidInput(f"{name} must be a language name of at most {MAX_LANGUAGE_CHARS} characters.")
    provider = providers.check_provider(provider)
    providers.api_key(settings, provider)
    model = (model or "").strip() or providers.default_model(settings, provider)
    # A translation is about as long as its source: a part must fit the answer (3/4 of max_tokens).
    parts = split_for(text, model, max_tokens, settings, cap_tokens=max(100, max_tokens * 3 // 4))
    calls = []
    for i, part in enumerate(parts):
        if on_part:
            on_part(i, len(parts))
        system, user = prompts.translation(part, target_language.strip(), (source_language or "").strip() or None)
        calls.append(complete(provider, user, system=system, model=model, max_tokens=max_tokens,
                              on_text=on_text, settings=settings))
    return {**totals(calls), "content": "\n\n".join(c["content"] for c in calls),
            "target_language": target_language.strip(), "source_language": source_language, "parts": len(parts)}
