"""Document analysis: summary, key points, sentiment or entities, over documents of any length.

A document longer than one part (AI_DOCUMENT_CHUNK_TOKENS, or less when the model's context is
smaller) is split with `chunking.split_text`; each part is analysed, then the parts are combined:
summaries by one more call that merges them, key points and entities by merging the lists
(duplicates dropped), sentiment by the length-weighted mean score. A retry starts the document
again (parts are not kept between attempts).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable

from app.errors import InvalidInput
from app.llm import chunking, prices, prompts, providers
from app.llm.completion import complete, totals
from config.settings import get_settings

MAX_DOCUMENT_CHARS = 5_000_000
SENTIMENT_LABELS = ("positive", "negative", "neutral", "mixed")


def parse_json(text: str) -> dict | None:
    """The first JSON object in a model's answer (code fences and prose around it ignored), or None."""
    cleaned = re.sub(r"```(?:json)?", "", text or "")
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(cleaned[start:end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def check_document(text) -> str:
    """Raises InvalidInput for a non-text, blank or over-long document."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("The document has no text to analyse.")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InvalidInput(f"The document is over {MAX_DOCUMENT_CHARS:,} characters; split it first.")
    return text


def split_for(text: str, model: str, max_tokens: int, settings, cap_tokens: int | None = None) -> list[str]:
    """`text` in parts that fit `model`'s context next to a `max_tokens` answer.

    Parts are at most AI_DOCUMENT_CHUNK_TOKENS (or `cap_tokens` when smaller) estimated tokens.
    """
    cap = min(settings.AI_DOCUMENT_CHUNK_TOKENS, cap_tokens or settings.AI_DOCUMENT_CHUNK_TOKENS)
    budget = chunking.part_budget_tokens(prices.context_tokens(model), max_tokens, cap)
    return chunking.split_text(text, budget)


def analyze_document(document_text: str, analysis_type: str = "summary", *, provider: str = "anthropic",
                     model: str | None = None, max_tokens: int = 1024,
                     on_text: Callable[[str], None] | None = None,
                     on_part: Callable[[int, int], None] | None = None, settings=None) -> dict:
    """Analyse a document (the `analyze_document` task).

    Args:
        analysis_type: one of summary, key_points, sentiment, entities.
        on_part: called as ``on_part(index, total)`` before each call (index 0-based; the merge
            call of a long summary is index == number of parts).
    Returns: `completion.totals` of all calls plus ``{'content': text, 'analysis_type', 'parts':
        int, 'parse_errors': int}`` and, by type, ``'key_points': [str]``, ``'sentiment':
        {'label', 'score' (-1..1), 'rationale'}`` or ``'entities': [{'name', 'type'}]``.
    Raises: InvalidInput, NotConfigured, ProviderRejected, ProviderBusy (see `completion.complete`).
    """
    settings = settings or get_settings()
    if analysis_type not in prompts.ANALYSIS_TYPES:
        raise InvalidInput(f"Unknown analysis_type {analysis_type!r}: choose one of {', '.join(prompts.ANALYSIS_TYPES)}.")
    check_document(document_text)
    provider = providers.check_provider(provider)
    providers.api_key(settings, provider)
    model = (model or "").strip() or providers.default_model(settings, provider)
    parts = split_for(document_text, model, max_tokens, settings)
    calls = []
    for i, part in enumerate(parts):
        if on_part:
            on_part(i, len(parts) + (1 if analysis_type == "summary" and len(parts) > 1 else 0))
        system, user = prompts.analysis(analysis_type, part, i, len(parts))
        calls.append(complete(provider, user, system=system, model=model, max_tokens=max_tokens,
                              on_text=on_text, settings=settings))
    out = {"analysis_type": analysis_type, "parts": len(parts), "parse_errors": 0}
    answers = [c["content"] for c in calls]
    if analysis_type == "summary":
        content = answers[0]
        if len(parts) > 1:
            if on_part:
                on_part(len(parts), len(parts) + 1)
            system, user = prompts.combine_summaries(answers)
            calls.append(complete(provider, user, system=system, model=model, max_tokens=max_tokens,
                                  on_text=on_text, settings=settings))
            content = calls[-1]["content"]
        out["content"] = content
    elif analysis_type == "key_points":
        out.update(_key_points(answers))
    elif analysis_type == "sentiment":
        out.update(_sentiment(answers, [len(p) for p in parts]))
    else:
        out.update(_entities(answers))
    return {**totals(calls), **out}


def _key_points(answers: list[str]) -> dict:
    points, seen, errors = [], set(), 0
    for text in answers:
        data = parse_json(text)
        items = data.get("key_points") if data else None
        if not isinstance(items, list):
            errors += 1
            items = [ln.strip(" -*•\t") for ln in text.splitlines() if ln.strip(" -*•\t")]
        for item in items:
            item = str(item).strip()
            if item and item.lower() not in seen:
                seen.add(item.lower())
                points.append(item)
    return {"key_points": points, "content": "\n".join(f"- {p}" for p in points), "parse_errors": errors}


def _sentiment(answers: list[str], weights: list[int]) -> dict:
    found, errors = [], 0
    for text, weight in zip(answers, weights):
        data = parse_json(text)
        try:
            score = max(-1.0, min(1.0, float(data["score"])))
            label = str(data.get("label", "")).lower()
            found.append((score, label if label in SENTIMENT_LABELS else None, str(data.get("rationale", "")), weight))
        except (TypeError, KeyError, ValueError):
            errors += 1
    if not found:
        return {"sentiment": None, "content": "\n\n".join(answers), "parse_errors": errors}
    total = sum(w for *_, w in found) or 1
    score = round(sum(s * w for s, _, _, w in found) / total, 3)
    if len(found) == 1 and found[0][1]:
        label = found[0][1]
    elif any(s > 0.25 for s, *_ in found) and any(s < -0.25 for s, *_ in found):
        label = "mixed"
    else:
        label = "positive" if score > 0.25 else "negative" if score < -0.25 else "neutral"
    rationale = " ".join(r for _, _, r, _ in found if r).strip()
    return {"sentiment": {"label": label, "score": score, "rationale": rationale},
            "content": f"{label} (score {score:+.2f})" + (f": {rationale}" if rationale else ""),
            "parse_errors": errors}


def _entities(answers: list[str]) -> dict:
    entities, seen, errors = [], set(), 0
    for text in answers:
        data = parse_json(text)
        items = data.get("entities") if data else None
        if not isinstance(items, list):
            errors += 1
            continue
        for item in items:
            if not isinstance(item, dict) or not str(item.get("name", "")).strip():
                continue
            name, kind = str(item["name"]).strip(), str(item.get("type") or "other").strip().lower()
            if (name.lower(), kind) not in seen:
                seen.add((name.lower(), kind))
                entities.append({"name": name, "type": kind})
    content = "\n".join(f"{e['name']} ({e['type']})" for e in entities) or "\n\n".join(answers)
    return {"entities": entities, "content": content, "parse_errors": errors}
