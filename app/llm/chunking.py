"""Splitting long text into parts that fit a model's context, at paragraph and sentence boundaries.

Token counts are estimates, not a tokenizer: about 4 characters per token for Latin text (OpenAI,
"What are tokens and how to count them": "1 token ~= 4 chars in English") and 1 token per CJK /
kana / hangul character, which over-counts rather than under-counts.
"""
from __future__ import annotations

import math
import re

_WIDE_RE = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_SENTENCE_RE = re.compile(r"(?<=[.!?。！？])\s+")


def estimate_tokens(text: str) -> int:
    """Estimated tokens of `text`: wide (CJK) characters count 1, other characters 1/4."""
    wide = len(_WIDE_RE.findall(text))
    return wide + math.ceil((len(text) - wide) / 4)


def part_budget_tokens(context_tokens: int, max_output_tokens: int, cap_tokens: int,
                       overhead_tokens: int = 1_000) -> int:
    """Tokens of document text per part: the context minus the answer and prompt, at most `cap_tokens`."""
    return max(100, min(cap_tokens, context_tokens - max_output_tokens - overhead_tokens))


def split_text(text: str, budget_tokens: int) -> list[str]:
    """Split `text` into parts of at most `budget_tokens` estimated tokens each.

    Cuts between paragraphs (blank lines) where possible, else between sentences, else inside a
    sentence. Joining the parts with "\\n\\n" gives back every character of the text except the
    whitespace at the cuts. Returns [] for blank text.
    """
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text.strip()):
        para = para.strip()
        if not para:
            continue
        if estimate_tokens(para) <= budget_tokens:
            pieces.append(para)
            continue
        for sentence in _SENTENCE_RE.split(para):
            pieces.extend(_hard_split(sentence, budget_tokens))
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for piece in pieces:
        cost = estimate_tokens(piece) + 1
        if current and used + cost > budget_tokens:
            parts.append("\n\n".join(current))
            current, used = [], 0
        current.append(piece)
        used += cost
    if current:
        parts.append("\n\n".join(current))
    return parts


def _hard_split(sentence: str, budget_tokens: int) -> list[str]:
    """Cut one sentence into character runs of at most `budget_tokens` estimated tokens each."""
    out: list[str] = []
    start, used = 0, 0.0
    for i, ch in enumerate(sentence):
        cost = 1.0 if _WIDE_RE.match(ch) else 0.25
        if used + cost > budget_tokens:
            out.append(sentence[start:i])
            start, used = i, 0.0
        used += cost
    out.append(sentence[start:])
    return [s for s in out if s.strip()]
