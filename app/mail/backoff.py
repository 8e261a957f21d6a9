"""Retry countdowns: exponential backoff with "equal jitter".

Email tasks retry at most 3 times with a 60 s countdown and backoff. The n-th retry
(n = 0, 1, 2) waits ``d = min(max_s, base_s * 2**n)`` halved plus a random share of the other half:
``d/2 + uniform(0, d/2)`` — the "equal jitter" variant of AWS Architecture Blog, "Exponential
Backoff And Jitter" (2015), which keeps a floor of d/2 while spreading retries of many tasks apart.
"""
from __future__ import annotations

import random


def countdown_s(retries: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `retries` + 1 (`retries` = retries done so far, >= 0)."""
    delay = min(max_s, base_s * (2 ** max(0, retries)))
    return delay / 2 + (rng or random).uniform(0, delay / 2)
