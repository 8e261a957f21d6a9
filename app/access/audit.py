"""The audit log: one Redis stream entry per state-changing act, sign-in and refusal (`app.store.audit`).

Append-only from the console's point of view: entries are only ever added (``XADD``); nothing in
the console deletes or edits one. Retention is by count: each ``XADD`` carries ``MAXLEN ~
AUDIT_MAX_ENTRIES`` (default 100,000), so Redis drops the oldest entries in whole stream nodes once
the log is over that size (``~``: the log may hold up to about 100 entries more than the setting;
Redis docs "XADD ... Capped streams"). At ~300 bytes an entry, 100,000 entries are ~30 MB.

Entry fields (all strings in Redis; `read` returns them decoded): ``id`` (stream id, its first part
is the epoch milliseconds), ``at`` (epoch seconds, float), ``who``, ``role``, ``client``, ``auth``,
``action``, ``target``, ``outcome`` ("ok", "denied", "refused", "failed" or an action's own word such
as "no worker replied"), ``detail`` (dict, stored as JSON).

If the Redis write fails the error propagates to the caller (the act itself may already have
happened; the operator sees the error and the act is missing from the log).
"""
from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from app.access.identity import Identity
from app.store import audit as store

FIELDS = ("id", "at", "who", "role", "client", "auth", "action", "target", "outcome", "detail")
#: Entries read per XREVRANGE call while filtering; at most SCAN_MAX_ENTRIES are looked at per query.
PAGE = 500
SCAN_MAX_ENTRIES = 200_000


def _max_entries() -> int:
    from config.settings import get_settings

    return get_settings().AUDIT_MAX_ENTRIES


def record(client, identity: Identity, action: str, target: str = "", outcome: str = "ok",
           detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append one entry for `identity` doing `action` to `target`; returns it (with its ``id``).

    `detail` must not hold secrets (callers pass counts, ids, names — never passwords or task args).
    """
    entry = {"at": f"{time.time():.3f}", **identity.as_audit(), "action": action,
             "target": str(target or ""), "outcome": outcome,
             "detail": json.dumps(detail or {}, default=str, ensure_ascii=False)}
    entry_id = store.append(client, entry, _max_entries())
    return _decode(entry_id, entry)


def _decode(entry_id, fields: dict) -> dict[str, Any]:
    fields = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
              for k, v in fields.items()}
    out: dict[str, Any] = {k: fields.get(k, "") for k in FIELDS if k not in ("id", "at", "detail")}
    out["id"] = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    try:
        out["at"] = float(fields.get("at") or 0)
    except ValueError:
        out["at"] = 0.0
    try:
        out["detail"] = json.loads(fields.get("detail") or "{}")
    except ValueError:
        out["detail"] = {"raw": fields.get("detail")}
    return out


@dataclass
class AuditFilter:
    """What `read` keeps; empty fields match everything.

    `since` / `until` are epoch seconds (inclusive); `who`, `action`, `outcome` match exactly;
    `text` is a case-insensitive substring of who, action, target, outcome or detail.
    """

    since: float | None = None
    until: float | None = None
    who: str = ""
    action: str = ""
    outcome: str = ""
    text: str = ""

    def matches(self, e: dict[str, Any]) -> bool:
        if self.who and e["who"] != self.who:
            return False
        if self.action and e["action"] != self.action:
            return False
        if self.outcome and e["outcome"] != self.outcome:
            return False
        if self.text:
            hay = " ".join([e["who"], e["action"], e["target"], e["outcome"], json.dumps(e["detail"])]).lower()
            if self.text.lower() not in hay:
                return False
        return True


def _walk(client, flt: AuditFilter) -> Iterator[dict[str, Any]]:
    """Entries newest first within the time bounds (stream ids are epoch ms), up to SCAN_MAX_ENTRIES."""
    hi = f"{int(flt.until * 1000)}-18446744073709551615" if flt.until is not None else "+"
    lo = f"{int(flt.since * 1000)}-0" if flt.since is not None else "-"
    seen = 0
    while seen < SCAN_MAX_ENTRIES:
        batch = store.newest_first(client, hi, lo, PAGE)
        if not batch:
            return
        for entry_id, fields in batch:
            seen += 1
            yield _decode(entry_id, fields)
        last = batch[-1][0]
        last = last.decode() if isinstance(last, bytes) else last
        ms, seq = (int(x) for x in last.split("-"))
        if seq > 0:
            hi = f"{ms}-{seq - 1}"
        elif ms > 0:
            hi = f"{ms - 1}-18446744073709551615"
        else:
            return
        if len(batch) < PAGE:
            return


def read(client, flt: AuditFilter | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The newest `limit` entries matching `flt` (newest first)."""
    flt = flt or AuditFilter()
    out = []
    for e in _walk(client, flt):
        if flt.matches(e):
            out.append(e)
            if len(out) >= limit:
                break
    return out


def recent(client, limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` entries, newest first."""
    return read(client, None, limit)


def length(client) -> int:
    """Entries in the log now."""
    return store.length(client)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text (OWASP "CSV Injection": leading = + - @ tab CR)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(entries: Iterable[dict[str, Any]]) -> str:
    """Entries as CSV text (header row of `FIELDS`, ISO 8601 UTC time in ``at``)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([_cell(f) for f in FIELDS])
    for e in entries:
        row = dict(e, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e["at"])))
        writer.writerow([_cell(row.get(f, "")) for f in FIELDS])
    return buf.getvalue()


def to_json(entries: Iterable[dict[str, Any]]) -> str:
    """Entries as a JSON array (``at`` in epoch seconds, ``detail`` as an object)."""
    return json.dumps(list(entries), ensure_ascii=False, indent=1)
