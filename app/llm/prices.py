"""Token prices of the models the console knows, and the cost of one call in US dollars.

Prices are USD per million tokens (input, output), standard tier, no caching or batch discount.
Sources, read 2026-11-21:
- Anthropic: https://platform.claude.com/docs/about-claude/models/overview ("Models overview"
  comparison table and the legacy model pages). Claude Haiku 5.5 is priced "From $0.10 / $0.50"
  (tiered), so it is not listed: its cost shows as unknown rather than as a guess.
- OpenAI: https://openai.com/api/pricing (standard tier, short context under 270K tokens), as
  reported on 2026-06-04 by tokenmix.ai and morphllm.com; gpt-4.1 / gpt-5-mini / gpt-5.2 from
  GitHub's Copilot models-and-pricing table (github/docs data/tables/copilot/models-and-pricing.yml).
A model not in the table (a local model behind OPENAI_BASE_URL, a new release) has cost None:
its tokens are still counted. Update the table and the date above together.
"""
from __future__ import annotations

from collections.abc import Mapping
import re
from types import MappingProxyType

PRICES_READ_ON = "2026-11-21"

#: model id -> (USD per 1M input tokens, USD per 1M output tokens).
PRICES_USD_PER_MTOK: Mapping[str, tuple[float, float]] = MappingProxyType({
    # Anthropic
    "claude-fable-5-2": (8.00, 40.00),
    "claude-fable-5-1": (10.00, 50.00),
    "claude-opus-5-5": (4.00, 20.00),
    "claude-sonnet-5-5": (2.00, 10.00),
    "claude-opus-5": (5.00, 25.00),
    "claude-sonnet-5": (2.00, 10.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    # OpenAI
    "gpt-5.5": (5.00, 30.00),
    "gpt-5.4": (2.50, 15.00),
    "gpt-5.4-mini": (0.75, 4.50),
    "gpt-5.4-nano": (0.20, 1.25),
    "gpt-5.2": (1.75, 14.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-4.1": (2.00, 8.00),
})

#: Context windows in tokens (same sources); models not listed get DEFAULT_CONTEXT_TOKENS.
CONTEXT_TOKENS: Mapping[str, int] = MappingProxyType({"claude-haiku-4-5": 200_000, "claude-sonnet-4-5": 200_000})
DEFAULT_CONTEXT_TOKENS = 128_000
_SNAPSHOT_RE = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


def _base(model: str) -> str:
    """`model` without a dated snapshot suffix (claude-haiku-4-5-20251001 -> claude-haiku-4-5)."""
    return _SNAPSHOT_RE.sub("", (model or "").strip().lower())


def price(model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for `model` (snapshot suffixes ignored), or None."""
    return PRICES_USD_PER_MTOK.get(_base(model))


def cost_usd(model: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
    """The USD cost of one call, rounded to 8 places; None when the model's price or a count is unknown."""
    p = price(model)
    if p is None or input_tokens is None or output_tokens is None:
        return None
    return round((input_tokens * p[0] + output_tokens * p[1]) / 1_000_000, 8)


def context_tokens(model: str) -> int:
    """The model's context window in tokens (DEFAULT_CONTEXT_TOKENS when not listed)."""
    return CONTEXT_TOKENS.get(_base(model), DEFAULT_CONTEXT_TOKENS)


def known_models(provider: str) -> list[str]:
    """Models with a price for `provider` ('anthropic' or 'openai'), in table order."""
    prefix = "claude-" if provider == "anthropic" else "gpt-"
    return [m for m in PRICES_USD_PER_MTOK if m.startswith(prefix)]
