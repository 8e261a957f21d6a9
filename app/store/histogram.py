"""Runtime histogram buckets (per task name) and quantiles read from them.

Buckets are log-spaced upper bounds in seconds, like Prometheus' default histogram buckets extended
to 30 min; +Inf is the last bucket.
"""
from __future__ import annotations

import bisect

#: Runtime histogram bucket upper bounds in seconds (log-spaced; +Inf is the last bucket).
RUNTIME_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                     120.0, 300.0, 600.0, 1800.0, float("inf"))
_LABELS = tuple(str(b) for b in RUNTIME_BUCKETS_S)


def bucket_for(runtime_s: float) -> str:
    """The histogram bucket (upper bound, as text, e.g. ``"0.25"`` or ``"inf"``) of a runtime."""
    i = bisect.bisect_left(RUNTIME_BUCKETS_S, runtime_s)
    return _LABELS[min(i, len(_LABELS) - 1)]


def quantiles_of(raw: dict[str, str], quantiles=(0.5, 0.95)) -> dict[str, float] | None:
    """``{'count', 'p50', 'p95', ...}`` from one histogram hash (bucket -> count, ``sum``), or None
    when empty. A quantile is the upper bound of the bucket it falls in (Prometheus'
    histogram_quantile without interpolation); +Inf reports the largest finite bound."""
    finite_max = max(b for b in RUNTIME_BUCKETS_S if b != float("inf"))
    buckets = sorted((float(b), int(c)) for b, c in raw.items() if b != "sum")
    total = sum(c for _, c in buckets)
    if not total:
        return None
    row = {"count": float(total)}
    for q in quantiles:
        seen = 0
        for bound, c in buckets:
            seen += c
            if seen >= q * total:
                row[f"p{int(q * 100)}"] = bound if bound != float("inf") else finite_max
                break
    return row
