"""The console's one priority scale, translated to the order of the broker in use.

The console speaks one scale on every form, in the API and in the task detail: a number from 0
(highest) to 9 (lowest) — Celery's meaning on Redis, where ``priority=0`` runs first — with three
named levels: ``high`` = 0, ``normal`` = 5, ``low`` = 9.

Brokers disagree on the direction, so the number is translated at publish time (`to_broker`):

- **Redis**: kombu keeps one list per *priority step* (transport option ``priority_steps``, default
  0, 3, 6, 9) and serves the lists in that order, so a lower value runs first. The console's number
  is sent as it is; kombu files it under the highest step not above it (1 and 2 under 0, 5 under 3).
- **RabbitMQ**: queues declared with ``x-max-priority`` deliver a *higher* value first. The number
  is mirrored: ``9 - n`` when the queues' maximum is 9 or more, scaled down to the maximum below
  that (``round((9 - n) * max / 9)``).

Code that calls Celery directly (``apply_async(priority=...)``) passes the broker's own value:
``priority=0`` stays the highest on Redis; on RabbitMQ use `to_broker` (or the mirrored number).
A task sent without a priority counts as 0 on both brokers: the highest on Redis, the lowest on
RabbitMQ. So the console always sends one: its forms the level chosen, and what it sends on its own
(a workflow's steps, a schedule's "Run now", a retry without a recorded priority) the ``normal``
level through `for_app`.

Pure functions (no I/O): they take the broker URL and the queues' maximum priority as arguments,
or a Celery app to read them from (`for_app`).
"""
from __future__ import annotations

from types import MappingProxyType

from app.errors import InvalidInput

HIGHEST = 0
LOWEST = 9
#: Named levels of the console's scale -> their number (0 = highest).
LEVELS = MappingProxyType({"high": 0, "normal": 5, "low": 9})
DEFAULT_LEVEL = "normal"
#: RabbitMQ's default for a queue's x-max-priority in this console (QUEUE_MAX_PRIORITY).
DEFAULT_MAX_PRIORITY = 10

_AMQP_SCHEMES = ("amqp", "amqps", "pyamqp", "librabbitmq")


def number_of(choice: str | int) -> int:
    """The console number (0 = highest … 9 = lowest) of a level name or a number.

    Args:
        choice: "high" | "normal" | "low" (any case), or an int / digit string 0–9.
    Raises:
        InvalidInput: anything else.
    """
    if isinstance(choice, str) and choice.strip().lower() in LEVELS:
        return LEVELS[choice.strip().lower()]
    try:
        n = int(choice)
    except (TypeError, ValueError):
        n = None
    if n is None or isinstance(choice, bool) or not HIGHEST <= n <= LOWEST:
        raise InvalidInput(f"Priority {choice!r} is not one of high, normal, low or a number from "
                           f"{HIGHEST} (highest) to {LOWEST} (lowest).")
    return n


def label(number: int) -> str:
    """``"high (0)"``, ``"normal (5)"``, ``"low (9)"`` or the bare number for the others."""
    names = {v: k for k, v in LEVELS.items()}
    return f"{names[number]} ({number})" if number in names else str(number)


def is_amqp(broker_url: str) -> bool:
    """True when `broker_url` is a RabbitMQ (AMQP) URL; every other scheme is taken as Redis."""
    scheme = broker_url.split("://", 1)[0].lower().split("+")[0] if "://" in (broker_url or "") else ""
    return scheme in _AMQP_SCHEMES


def _amqp_top(max_priority: int | None) -> int:
    return min(int(max_priority or DEFAULT_MAX_PRIORITY), LOWEST)


def to_broker(choice: str | int, broker_url: str, max_priority: int | None = DEFAULT_MAX_PRIORITY) -> int:
    """The ``priority=`` value that makes the broker at `broker_url` honour the console's `choice`.

    Args:
        choice: a level name or console number (`number_of`).
        broker_url: the Celery broker URL (``redis://…`` or ``amqp://…``).
        max_priority: the queues' ``x-max-priority`` (RabbitMQ only; ignored on Redis).
    Returns:
        Redis: the number itself (lower runs first). RabbitMQ: the mirrored value (higher runs first).
    Raises:
        InvalidInput: `choice` is not on the scale.
    """
    n = number_of(choice)
    if not is_amqp(broker_url):
        return n
    top = _amqp_top(max_priority)
    return round((LOWEST - n) * top / LOWEST)


def from_broker(value: int | str | None, broker_url: str, max_priority: int | None = DEFAULT_MAX_PRIORITY) -> int | None:
    """The console number of a broker's ``priority`` value (None when the message carried none).

    Redis values above 9 count as 9; RabbitMQ values above the maximum count as the maximum (as
    the brokers treat them). The inverse of `to_broker` where the RabbitMQ maximum is 9 or more.
    """
    if value is None or value == "":
        return None
    v = int(value)
    if not is_amqp(broker_url):
        return max(HIGHEST, min(v, LOWEST))
    top = _amqp_top(max_priority)
    v = max(0, min(v, top))
    return LOWEST - round(v * LOWEST / top)


def for_app(app, choice: str | int) -> int:
    """`to_broker` for a Celery app: its ``broker_url`` and ``task_queue_max_priority``."""
    return to_broker(choice, str(app.conf.broker_url or ""), app.conf.task_queue_max_priority)


def redis_steps(app) -> tuple[int, ...] | None:
    """The priority steps a Celery app on Redis is configured with (transport option
    ``priority_steps``), or None when it keeps kombu's default."""
    steps = (app.conf.broker_transport_options or {}).get("priority_steps")
    return tuple(int(s) for s in steps) if steps else None
