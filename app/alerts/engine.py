"""Rule evaluation: run every enabled rule's check, apply ``for_s`` and the cool-down, move rules
between OK and FIRING, and write the alert events that should be delivered.

State per rule (JSON, kept by `app.store.alerts`): ``{firing, since, subjects: {subject: detail},
pending: {subject: first breaching at}, notified_at, delivered, error, checked_at, snaps}``.

- A subject counts once it has breached for the rule's ``for_s`` (0: at once).
- OK -> FIRING writes a ``fired`` event. It is delivered unless the rule notified less than
  ``cooldown_s`` ago (a flapping rule is then recorded, not sent again: ``suppressed``).
- While FIRING, new subjects are added; a reminder (``fired`` again) goes out only when new
  subjects appeared and the cool-down has passed since the last notification.
- FIRING -> OK writes a ``resolved`` event with the rule's recovery message, delivered when the
  firing was.
- A check that raises (Redis error, bad entry) keeps the rule's previous state and records the error.

Reads: one HGETALL of the rules, one of the states, and what the checks load through
`app.alerts.checks.Context` (a fixed number of pipelined round trips); writes: one HSET of all
states plus one pipeline per event. Nothing here scans tasks.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from app.alerts import checks, events
from app.alerts.rules import Rule
from app.store import alerts as store

log = logging.getLogger(__name__)


def _message(rule: Rule, subjects: dict[str, str], status: str) -> str:
    if status == "resolved":
        return rule.recovery_message or f"{rule.name}: resolved."
    listed = "; ".join(f"{s}: {d}" for s, d in list(subjects.items())[:5])
    more = f" (+{len(subjects) - 5} more)" if len(subjects) > 5 else ""
    return f"{rule.name} ({rule.describe()}) — {listed}{more}"


def _event(rule: Rule, status: str, subjects: dict[str, str], now: float, deliver: bool,
           note: str | None = None) -> dict[str, Any]:
    return {"id": events.new_id(), "at": now, "rule_id": rule.id, "rule_name": rule.name, "kind": rule.kind,
            "severity": rule.severity, "status": status, "message": _message(rule, subjects, status),
            "subjects": subjects, "deliver": "yes" if deliver else "no",
            "channels": ",".join(rule.channels) if deliver else "", "note": note}


def step(rule: Rule, st: dict[str, Any], breaching: dict[str, str], now: float) -> list[dict[str, Any]]:
    """Advance one rule's state `st` (changed in place) given its breaching subjects now; returns
    the events to write (pure, see module docstring)."""
    for_s = float(rule.params.get("for_s") or 0)
    pending = st.get("pending") or {}
    pending = {s: float(pending.get(s, now)) for s in breaching}
    st["pending"] = pending
    active = {s: d for s, d in breaching.items() if now - pending[s] >= for_s}
    out: list[dict[str, Any]] = []
    cooled = not st.get("notified_at") or now - float(st["notified_at"]) >= rule.cooldown_s
    if active and not st.get("firing"):
        out.append(_event(rule, "fired", active, now, deliver=cooled,
                          note=None if cooled else "suppressed: within the rule's cool-down"))
        st.update(firing=True, since=now, subjects=active, delivered=cooled)
        if cooled:
            st["notified_at"] = now
    elif st.get("firing") and not active:
        out.append(_event(rule, "resolved", st.get("subjects") or {}, now, deliver=bool(st.get("delivered"))))
        st.update(firing=False, subjects={}, resolved_at=now, delivered=False)
    elif st.get("firing"):
        grew = set(active) - set(st.get("subjects") or {})
        st["subjects"] = active
        if grew and cooled:
            out.append(_event(rule, "fired", active, now, deliver=True, note="still firing; new: " + ", ".join(sorted(grew))))
            st.update(notified_at=now, delivered=True)
    return out


def load_states(client) -> dict[str, dict[str, Any]]:
    out = {}
    for rule_id, raw in store.states(client).items():
        try:
            out[rule_id] = json.loads(raw)
        except ValueError:
            out[rule_id] = {}
    return out


def evaluate(client, ctx: checks.Context, rules: list[Rule],
             max_events: int = events.DEFAULT_MAX_EVENTS) -> list[dict[str, Any]]:
    """Evaluate `rules` once; returns the events written (newest state saved in Redis).

    Raises:
        StoreError: Redis cannot be reached for the rules' state (a check's own error is
            recorded on its rule instead).
    """
    states = load_states(client)
    written: list[dict[str, Any]] = []
    new_states: dict[str, str] = {}
    for rule in rules:
        st = states.get(rule.id, {})
        if not rule.enabled:
            if st.get("firing"):
                ev = _event(rule, "resolved", st.get("subjects") or {}, ctx.now, deliver=False,
                            note="rule disabled")
                written.append(events.write(client, ev, max_events))
                new_states[rule.id] = json.dumps({"firing": False, "checked_at": ctx.now})
            continue
        check = checks.CHECKS[rule.kind]
        try:
            breaching = check(ctx, rule.params, st) if rule.kind in checks.STATEFUL else check(ctx, rule.params)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
            log.warning("alert rule %s (%s) could not be checked: %s", rule.id, rule.kind, exc)
            st.update(error=f"{type(exc).__name__}: {exc}"[:300], checked_at=ctx.now)
            new_states[rule.id] = json.dumps(st, default=str)
            continue
        st.pop("error", None)
        st["checked_at"] = ctx.now
        for ev in step(rule, st, breaching, ctx.now):
            written.append(events.write(client, ev, max_events))
        new_states[rule.id] = json.dumps(st, default=str)
    store.save_states(client, new_states)
    store.set_evaluated_at(client, ctx.now)
    return written


#: An evaluation is late when the last one finished longer ago than this many intervals.
LATE_AFTER_INTERVALS = 3


def lateness(client, interval_s: float, now: float | None = None) -> str | None:
    """None while evaluations keep up, else a sentence for every page (beat or its worker down):
    the last evaluation is older than LATE_AFTER_INTERVALS × `interval_s`, or none ever ran.

    Raises:
        StoreError: Redis cannot be reached.
    """
    import time

    now = time.time() if now is None else now
    last = store.evaluated_at(client)
    if last is None:
        return "Alert rules have never been evaluated: beat or the default_queue worker is not running."
    age = now - last
    if age <= LATE_AFTER_INTERVALS * interval_s:
        return None
    return (f"Alert rules were last evaluated {age:.0f} s ago (every {interval_s:g} s expected): beat or the "
            "default_queue worker is down, so no alert fires.")


def firing(client, rules: list[Rule] | None = None) -> list[dict[str, Any]]:
    """Rules firing now: ``[{rule_id, name, severity, since, subjects}]``, most severe first
    (two HGETALLs; the Task Monitor banner reads this)."""
    from app.alerts import rules as rules_mod

    by_id = {r.id: r for r in (rules if rules is not None else rules_mod.load_all(client))}
    order = {"critical": 0, "warning": 1, "info": 2}
    out = []
    for rule_id, st in load_states(client).items():
        rule = by_id.get(rule_id)
        if rule and rule.enabled and st.get("firing"):
            out.append({"rule_id": rule_id, "name": rule.name, "severity": rule.severity,
                        "since": st.get("since"), "subjects": st.get("subjects") or {}})
    return sorted(out, key=lambda f: (order.get(f["severity"], 3), -(f["since"] or 0)))
