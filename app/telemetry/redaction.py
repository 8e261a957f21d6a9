"""Masking of secrets in anything the console stores or shows (task args, kwargs, results).

A key is secret when its name contains one of SECRET_WORDS (case-insensitive) and is not a token
*count* (``input_tokens``, ``max_tokens``: names ending in "tokens"); its value is replaced with
REDACTED. Used by the history recorder so secrets never reach Redis or the monitor.
"""
from __future__ import annotations

import json
import re
from typing import Any

SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie")
REDACTED = "***"
_SECRET_RE = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)
_COUNT_RE = re.compile(r"tokens$", re.IGNORECASE)


def is_secret(key: str) -> bool:
    """True when a key of that name holds a secret (see module docstring)."""
    return bool(_SECRET_RE.search(key)) and not _COUNT_RE.search(key)


def redact(value: Any, depth: int = 0) -> Any:
    """Return a copy of `value` (JSON-like) with secret-named keys masked; depth-limited to 8."""
    if depth > 8:
        return "…"
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and is_secret(k) else redact(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, depth + 1) for v in value]
    return value


def to_text(value: Any, limit: int = 2_000, exact: str | None = None) -> str:
    """JSON text of `value` after redaction, cut to `limit` characters (with a trailing "…").

    `exact` may pass the plain ``json.dumps`` of `value` when the caller has it: when no secret word
    occurs in it, redaction cannot change anything and it is used as is (no second encoding).
    """
    if exact is not None and not _SECRET_RE.search(exact):
        text = exact
    else:
        try:
            text = json.dumps(redact(value), default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
