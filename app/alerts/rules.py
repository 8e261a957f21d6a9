"""Alert rules: what to watch, how bad it is, how often to tell; stored in Redis as JSON.

A rule is a `Rule`; its `kind` picks the check (`app.alerts.checks`) and `params` its thresholds.
Kinds and their params (units in the names):

- ``failure_rate``: ``scope`` ("task" | "queue"), ``target`` (a task name / queue, or "*" for each
  one seen), ``threshold_pct``, ``min_runs``, ``window_s`` (60..3600). Fires when more than
  threshold_pct % of at least min_runs finished runs in the window failed.
- ``queue_depth``: ``queue`` (or "*"), ``threshold`` (ready messages), ``for_s``. Queue rules'
  ``queue`` is a pattern over the console's own queue names and ``<app>:<queue>`` for the queues of
  the other monitored apps (`app.monitor.apps`; e.g. "billing:*").
- ``queue_age``: ``queue`` (or "*"), ``threshold_s`` (age of the oldest waiting message), ``for_s``.
- ``no_consumer``: ``queue`` (or "*"), ``for_s``: messages waiting and no online worker consuming.
- ``worker_offline``: ``worker`` (node name or "*"), ``for_s``: a worker stopped sending heartbeats
  (it crashed, was killed or lost Redis) — a worker that signed off cleanly is not alerted unless
  ``include_signed_off``, nor one replaced by a new start of its group on the same host.
- ``runtime_p95``: ``task`` (name or "*"), ``threshold_s``, ``window_s``, ``min_runs``: p95 of the
  runtimes finished in the window (from the runtime histogram) over the threshold.
- ``schedule_missed``: ``entry`` (RedBeat entry name or "*"), ``grace_s``, ``include_late``,
  ``include_failing`` (see `app.monitor.schedule_health`).
- ``redis_memory``: ``fraction`` of maxmemory (a Redis without maxmemory never fires).

Every rule has a ``severity`` (info / warning / critical), a ``cooldown_s`` (no second notification
of the rule within it), a ``recovery_message`` (sent when it resolves), ``channels`` (email,
webhook) and ``enabled``.
"""
from __future__ import annotations

from types import MappingProxyType
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from collections.abc import Mapping
from typing import Any

from app.errors import InvalidInput
from app.store import alerts as store

SEVERITIES = ("info", "warning", "critical")
CHANNELS = ("email", "webhook")

#: kind -> (label, {param: (type, default, min, max)}); bounds None = unbounded.
KINDS: Mapping[str, tuple[str, dict[str, tuple[type, Any, float | None, float | None]]]] = MappingProxyType({
    "failure_rate": ("Failure rate of a task name or queue", {
        "scope": (str, "task", None, None), "target": (str, "*", None, None),
        "threshold_pct": (float, 20.0, 0, 100), "min_runs": (int, 10, 1, 1_000_000),
        "window_s": (int, 600, 60, 3600)}),
    "queue_depth": ("Queue depth over a threshold", {
        "queue": (str, "*", None, None), "threshold": (int, 1000, 0, None), "for_s": (int, 300, 0, 86_400)}),
    "queue_age": ("Oldest waiting message older than a threshold", {
        "queue": (str, "*", None, None), "threshold_s": (float, 600.0, 0, None), "for_s": (int, 300, 0, 86_400)}),
    "no_consumer": ("Messages waiting and no consumer", {
        "queue": (str, "*", None, None), "for_s": (int, 120, 0, 86_400)}),
    "worker_offline": ("Worker offline", {
        "worker": (str, "*", None, None), "for_s": (int, 0, 0, 86_400),
        "include_signed_off": (bool, False, None, None)}),
    "runtime_p95": ("Task runtime p95 over a threshold", {
        "task": (str, "*", None, None), "threshold_s": (float, 60.0, 0, None),
        "window_s": (int, 600, 60, 86_400), "min_runs": (int, 5, 1, None)}),
    "schedule_missed": ("A schedule's run missed or late", {
        "entry": (str, "*", None, None), "grace_s": (float, 60.0, 0, 86_400),
        "include_late": (bool, True, None, None), "include_failing": (bool, False, None, None)}),
    "redis_memory": ("Redis memory over a fraction of maxmemory", {
        "fraction": (float, 0.9, 0.01, 1.0)}),
})

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass
class Rule:
    """One alert rule (see module docstring). `cooldown_s` in seconds."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    severity: str = "warning"
    cooldown_s: float = 900.0
    recovery_message: str = ""
    channels: list[str] = field(default_factory=lambda: list(CHANNELS))
    enabled: bool = True
    id: str = ""
    builtin: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Rule":
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        """The rule in words, e.g. "failure_rate: > 20 % of >= 10 runs in 600 s (task *)"."""
        p = self.params
        if self.kind == "failure_rate":
            return f"{p['scope']} {p['target']}: > {p['threshold_pct']:g} % of >= {p['min_runs']} runs failed in {p['window_s']} s"
        if self.kind == "queue_depth":
            return f"queue {p['queue']}: > {p['threshold']} ready for {p['for_s']} s"
        if self.kind == "queue_age":
            return f"queue {p['queue']}: oldest message > {p['threshold_s']:g} s for {p['for_s']} s"
        if self.kind == "no_consumer":
            return f"queue {p['queue']}: messages and no consumer for {p['for_s']} s"
        if self.kind == "worker_offline":
            return f"worker {p['worker']} offline for {p['for_s']} s"
        if self.kind == "runtime_p95":
            return f"task {p['task']}: p95 runtime > {p['threshold_s']:g} s in {p['window_s']} s"
        if self.kind == "schedule_missed":
            extra = " or late" if p.get("include_late") else ""
            extra += " or failing" if p.get("include_failing") else ""
            return f"schedule {p['entry']}: missed{extra} (grace {p['grace_s']:g} s)"
        if self.kind == "redis_memory":
            return f"Redis memory > {p['fraction']:.0%} of maxmemory"
        return self.kind


def _coerce(kind: str, name: str, spec, value):
    typ, default, lo, hi = spec
    if value is None or value == "":
        return default
    try:
        if typ is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1", "yes")
            return bool(value)
        out = typ(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"Rule parameter {name!r} of {kind} must be a {typ.__name__}; got {value!r}.") from None
    if typ in (int, float):
        if (lo is not None and out < lo) or (hi is not None and out > hi):
            raise InvalidInput(f"Rule parameter {name!r} of {kind} must be between {lo} and "
                               f"{hi if hi is not None else 'any'}; got {out}.")
    if typ is str:
        out = out.strip()
        if not out or len(out) > 200:
            raise InvalidInput(f"Rule parameter {name!r} of {kind} must be 1-200 characters.")
    return out


def validate(rule: Rule) -> Rule:
    """A checked copy of `rule` with defaults filled in and unknown params dropped.

    Raises:
        InvalidInput: unknown kind/severity/channel, empty or long name, a param of the wrong type
            or out of its bounds, a negative cool-down, a bad id.
    """
    if rule.kind not in KINDS:
        raise InvalidInput(f"Unknown rule kind {rule.kind!r}: use one of {', '.join(KINDS)}.")
    if rule.severity not in SEVERITIES:
        raise InvalidInput(f"Unknown severity {rule.severity!r}: use one of {', '.join(SEVERITIES)}.")
    name = (rule.name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("A rule needs a name of 1-120 characters.")
    channels = list(dict.fromkeys(rule.channels or []))
    bad = [c for c in channels if c not in CHANNELS]
    if bad:
        raise InvalidInput(f"Unknown channel(s) {', '.join(bad)}: use email and/or webhook.")
    try:
        cooldown_s = float(rule.cooldown_s)
    except (TypeError, ValueError):
        raise InvalidInput("The cool-down must be a number of seconds.") from None
    if not 0 <= cooldown_s <= 7 * 86_400:
        raise InvalidInput("The cool-down must be between 0 s and 7 days.")
    specs = KINDS[rule.kind][1]
    unknown = set(rule.params or {}) - set(specs)
    if unknown:
        raise InvalidInput(f"Unknown parameter(s) for {rule.kind}: {', '.join(sorted(unknown))}.")
    params = {n: _coerce(rule.kind, n, s, (rule.params or {}).get(n)) for n, s in specs.items()}
    if rule.kind == "failure_rate" and params["scope"] not in ("task", "queue"):
        raise InvalidInput("A failure-rate rule's scope must be 'task' or 'queue'.")
    rule_id = rule.id or f"r-{uuid.uuid4().hex[:10]}"
    if not _ID_RE.match(rule_id):
        raise InvalidInput("A rule id is 1-64 lower-case letters, digits, '_' or '-'.")
    return Rule(name=name, kind=rule.kind, params=params, severity=rule.severity, cooldown_s=cooldown_s,
                recovery_message=(rule.recovery_message or "").strip()[:1000], channels=channels,
                enabled=bool(rule.enabled), id=rule_id, builtin=bool(rule.builtin))


def save(client, rule: Rule) -> Rule:
    """Validate and store `rule` (create or replace by id); returns the stored rule.

    Raises:
        InvalidInput: see `validate`.
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    rule = validate(rule)
    store.save_rule(client, rule.id, rule.to_json())
    return rule


def delete(client, rule_id: str) -> None:
    """Remove a rule and its evaluation state. Raises InvalidInput when there is no such rule."""
    if not store.delete_rule(client, rule_id):
        raise InvalidInput(f"There is no alert rule {rule_id!r}.")


def get(client, rule_id: str) -> Rule | None:
    raw = store.rule(client, rule_id)
    return Rule.from_json(raw) if raw else None


def load_all(client) -> list[Rule]:
    """Every stored rule (one HGETALL), sorted by name; undecodable entries are skipped."""
    out = []
    for raw in store.rules(client).values():
        try:
            out.append(Rule.from_json(raw))
        except (ValueError, TypeError):
            continue
    return sorted(out, key=lambda r: r.name.lower())


#: The rules installed once a destination is configured (then the operator's to edit or delete).
DEFAULT_RULES = (
    Rule(id="default-no-consumer", name="Queue has messages and no consumer", kind="no_consumer",
         params={"queue": "*", "for_s": 120}, severity="critical", builtin=True,
         recovery_message="A worker is consuming the queue again (or it drained)."),
    Rule(id="default-worker-offline", name="Worker offline", kind="worker_offline",
         params={"worker": "*", "for_s": 0}, severity="critical", builtin=True,
         recovery_message="The worker is sending heartbeats again."),
    Rule(id="default-failure-rate", name="Task failing often", kind="failure_rate",
         params={"scope": "task", "target": "*", "threshold_pct": 20, "min_runs": 10, "window_s": 600},
         severity="warning", builtin=True, recovery_message="The failure rate is back under 20 %."),
    Rule(id="default-schedule-missed", name="Schedule run missed", kind="schedule_missed",
         params={"entry": "*", "grace_s": 60, "include_late": True}, severity="warning", builtin=True,
         recovery_message="The schedule ran on time again."),
)


def seed_defaults(client, destination_configured: bool) -> list[str]:
    """Install DEFAULT_RULES once, when an alert destination is configured; returns ids installed.

    Installed at most once (``SET cc:alert:seeded NX``): afterwards they are the operator's to edit,
    disable or delete.
    """
    if not destination_configured or not store.claim_seeding(client):
        return []
    installed = []
    for rule in DEFAULT_RULES:
        if store.add_rule_if_missing(client, rule.id, validate(rule).to_json()):
            installed.append(rule.id)
    return installed
