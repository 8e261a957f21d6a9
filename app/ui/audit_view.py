"""The audit log view: filters (time range, who, action, outcome, text), the table, CSV/JSON export."""
from __future__ import annotations

from types import MappingProxyType
import time

import pandas as pd
import streamlit as st

from app.access import audit
from app.access.roles import ACTIONS, EVENTS
from app.ui.monitor_widgets import when
from app.ui.resources import redis_client

PERIODS_S = MappingProxyType({"last hour": 3600, "last 24 h": 86_400, "last 7 days": 7 * 86_400, "everything kept": None})
OUTCOMES = ("", "ok", "denied", "refused", "failed", "throttled", "no worker replied")


def audit_panel(key: str = "audit", limit: int = 500) -> None:
    """Filters, the newest `limit` matching entries and their export (one key prefix per place)."""
    c = st.columns([1.2, 1.2, 1.6, 1.2, 2])
    period = c[0].selectbox("Period", list(PERIODS_S), index=1, key=f"{key}_period")
    who = c[1].text_input("Who (exact)", key=f"{key}_who", placeholder="any")
    action = c[2].selectbox("Action", ["", *sorted(set(ACTIONS) | EVENTS)], key=f"{key}_action",
                            format_func=lambda a: a or "any")
    outcome = c[3].selectbox("Outcome", OUTCOMES, key=f"{key}_outcome", format_func=lambda o: o or "any")
    text = c[4].text_input("Contains", key=f"{key}_text", placeholder="target, detail, client…")
    span = PERIODS_S[period]
    flt = audit.AuditFilter(since=time.time() - span if span else None, who=who.strip(), action=action,
                            outcome=outcome, text=text.strip())
    entries = audit.read(redis_client(), flt, limit)
    if not entries:
        st.caption("No audit entries match.")
        return
    st.dataframe(pd.DataFrame([{"when (UTC)": when(e["at"]), "who": e["who"], "role": e["role"],
                                "client": e["client"], "auth": e["auth"], "action": e["action"],
                                "target": e["target"], "outcome": e["outcome"],
                                "detail": str(e.get("detail", ""))[:200]} for e in entries]),
                 hide_index=True, width="stretch")
    st.caption(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} shown (newest first, at most {limit}).")
    d1, d2, _ = st.columns([1, 1, 4])
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    d1.download_button("Export CSV", audit.to_csv(entries), file_name=f"audit-{stamp}.csv", mime="text/csv",
                       key=f"{key}_csv")
    d2.download_button("Export JSON", audit.to_json(entries), file_name=f"audit-{stamp}.json",
                       mime="application/json", key=f"{key}_json")
