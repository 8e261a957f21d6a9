"""Alert rules, their evaluation state and the alert history (read and written by `app.alerts`).

Keys (`app.store.keys`), none of them expiring:

- ``cc:alert:rules``       hash, rule id -> the rule as JSON (`app.alerts.rules.Rule.to_json`).
- ``cc:alert:state``       hash, rule id -> JSON evaluation state (`app.alerts.engine`).
- ``cc:alert:seeded``      string "1", set once the default rules were installed.
- ``cc:alert:evaluated``   string, epoch s of the last finished evaluation (the engine's health).
- ``cc:alert:events``      sorted set, alert event id scored by its time (epoch s); only the newest
                           `max_events` are kept, older ones are removed with their hash.
- ``cc:alert:event:<id>``  hash, one event: its fields as text (dicts and lists as JSON), plus
                           ``email`` / ``webhook`` delivery outcomes written later.

Values are passed and returned as stored (JSON text, flat str dicts): decoding them is the alerts
package's business. Every function raises `app.store.clients.StoreError` when Redis fails.
"""
from __future__ import annotations

from app.store import keys


# ---- rules -------------------------------------------------------------------------------------

def rules(client) -> dict[str, str]:
    """Rule id -> rule JSON, every stored rule (one HGETALL)."""
    return client.hgetall(keys.ALERT_RULES)


def rule(client, rule_id: str) -> str | None:
    """The JSON of rule `rule_id`, or None."""
    return client.hget(keys.ALERT_RULES, rule_id)


def save_rule(client, rule_id: str, rule_json: str) -> None:
    """Create or replace rule `rule_id`."""
    client.hset(keys.ALERT_RULES, rule_id, rule_json)


def delete_rule(client, rule_id: str) -> bool:
    """Remove rule `rule_id` and its evaluation state together (MULTI/EXEC); False when there was
    no such rule."""
    pipe = client.pipeline(transaction=True)
    pipe.hdel(keys.ALERT_RULES, rule_id)
    pipe.hdel(keys.ALERT_STATE, rule_id)
    return bool(pipe.execute()[0])


def claim_seeding(client) -> bool:
    """True the first time it is called on this Redis (``SET cc:alert:seeded 1 NX``), then False."""
    return bool(client.set(keys.ALERT_SEEDED, "1", nx=True))


def add_rule_if_missing(client, rule_id: str, rule_json: str) -> bool:
    """Store rule `rule_id` unless one with that id exists (HSETNX); True when stored."""
    return bool(client.hsetnx(keys.ALERT_RULES, rule_id, rule_json))


# ---- evaluation state --------------------------------------------------------------------------

def states(client) -> dict[str, str]:
    """Rule id -> state JSON (one HGETALL)."""
    return client.hgetall(keys.ALERT_STATE)


def save_states(client, by_rule: dict[str, str]) -> None:
    """Replace the states of the rules in `by_rule` (rule id -> state JSON; one HSET)."""
    if by_rule:
        client.hset(keys.ALERT_STATE, mapping=by_rule)


# ---- history -----------------------------------------------------------------------------------

def add_event(client, event_id: str, at: float, fields: dict[str, str], max_events: int) -> None:
    """Store event `event_id` (its `fields` as text) at `at` (epoch s), then drop the events beyond
    the newest `max_events`: one pipeline, plus one more when there are events to drop."""
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.alert_event(event_id), mapping=fields)
    pipe.zadd(keys.ALERT_EVENTS, {event_id: at})
    pipe.zrange(keys.ALERT_EVENTS, 0, -(max_events + 1))
    old = pipe.execute()[-1]
    if old:
        pipe = client.pipeline(transaction=False)
        pipe.zrem(keys.ALERT_EVENTS, *old)
        pipe.delete(*(keys.alert_event(i) for i in old))
        pipe.execute()


def set_event_field(client, event_id: str, field: str, value: str) -> None:
    """Set one field of event `event_id` (a delivery outcome)."""
    client.hset(keys.alert_event(event_id), field, value)


def event(client, event_id: str) -> dict[str, str]:
    """The stored fields of event `event_id` ({} when unknown or dropped)."""
    return client.hgetall(keys.alert_event(event_id))


def newest_events(client, limit: int) -> list[dict[str, str]]:
    """The stored fields of the newest `limit` events, newest first (events dropped meanwhile left
    out): one ZREVRANGE and one pipelined HGETALL."""
    ids = client.zrevrange(keys.ALERT_EVENTS, 0, limit - 1)
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for i in ids:
        pipe.hgetall(keys.alert_event(i))
    return [raw for raw in pipe.execute() if raw]


# ---- engine health -----------------------------------------------------------------------------

def set_evaluated_at(client, at: float) -> None:
    """Remember that an evaluation finished at `at` (epoch s)."""
    client.set(keys.ALERT_EVALUATED, repr(float(at)))


def evaluated_at(client) -> float | None:
    """Epoch s of the last finished evaluation, None when none ever finished."""
    raw = client.get(keys.ALERT_EVALUATED)
    return float(raw) if raw else None
