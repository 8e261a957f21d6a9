"""Workers, queues and audit parts of the Task Monitor, with the operator actions on them."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui.text import plain

from app.access import audit
from app.monitor import actions, diagnose
from app.monitor.queues import QueueDetail
from app.telemetry.redaction import redact_text
from app.ui import confirm
from app.ui.access import can
from app.ui.monitor_widgets import ago, when
from app.ui.resources import broker_client, celery, redis_client, settings


def queue_table(details: list[QueueDetail], paused=()) -> None:
    """The queues' detail table (ready, reserved, ETA-held, consumers, latency, status); the
    "no consumer" errors are `stuck_warnings`, drawn above it."""
    rows = [{"queue": d.name, "ready": d.ready, "reserved": _known(d.reserved), "ETA-held": _known(d.eta_held),
             "consumers": len(d.consumers or []),
             **({"broker consumers": d.broker_consumers} if d.broker_consumers is not None else {}),
             "latency": f"{d.latency_s:.1f} s" if d.latency_s is not None else ("unknown" if "latency_s" in d.unknown else "—"),
             "status": "paused" if d.name in paused else (
                 "⚠ no consumer" if d.stuck else ("idle" if not d.ready else "ok"))} for d in details]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    reasons = {f"{field}: {why}" for d in details for field, why in d.unknown.items()}
    if reasons:
        st.caption("Unknown on this broker — " + "; ".join(sorted(reasons)))


def stuck_warnings(details: list[QueueDetail], paused=()) -> None:
    """One error per queue with waiting messages and no consumer (a paused queue is not stuck)."""
    for d in details:
        if d.stuck and d.name not in paused:
            st.error(f"{plain(d.name)} has {d.ready} waiting message(s) and no consumer: start a worker for it "
                     f"(`./celery_worker.sh`) or add a consumer below.", icon=":material/error:")


def _known(value):
    return "unknown" if value is None else value


def worker_detail(w) -> None:
    with st.expander(f"{'online' if w.online else 'OFFLINE'} · {plain(w.hostname)} · {w.pool} × {w.concurrency} · "
                     f"{w.active_count} active · heartbeat {ago(w.last_heartbeat)} · from {w.source}"):
        st.write({"source": w.source, "queues": w.queues, "pid": w.pid, "processed": w.processed,
                  "loadavg": w.loadavg, "last heartbeat": when(w.last_heartbeat), "reserved": w.reserved,
                  **({"software": f"{w.sw_ident} {w.sw_ver}".strip()} if w.sw_ident else {})})
        if w.active:  # argsrepr from the heartbeat / events: masked again here (older workers, other apps)
            st.dataframe(pd.DataFrame([{k: (redact_text(v) if isinstance(v, str) else v) for k, v in a.items()}
                                       for a in w.active]), hide_index=True, width="stretch")


def worker_actions(workers, queue_names) -> None:
    """Pool grow/shrink, add/cancel consumer, rate limit, purge: each confirmed and audited (admin).
    The Queue choice shows only for the consumer actions, the ones it applies to."""
    if not can("pool_grow"):
        return
    app, client, who = celery(), redis_client(), confirm.who()
    online = sorted(w.hostname for w in workers if w.online)
    with st.container(border=True):
        c = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
        host = c[0].selectbox("Worker", online or ["(none online)"], key="wa_host")
        action = c[1].selectbox("Action", ["pool +1", "pool -1", "add consumer", "cancel consumer"], key="wa_action")
        queue = c[2].selectbox("Queue", list(queue_names), key="wa_queue") if "consumer" in action else None
        if c[3].button("Apply…", disabled=not online, key="wa_apply"):
            fns = {"pool +1": lambda: actions.pool_resize(app, client, host, 1, who),
                   "pool -1": lambda: actions.pool_resize(app, client, host, -1, who),
                   "add consumer": lambda: actions.consumer(app, client, host, queue, True, who),
                   "cancel consumer": lambda: actions.consumer(app, client, host, queue, False, who)}
            confirm.ask(f"{action} on {host}" + (f" for {queue}" if queue else ""), fns[action])
    c1, c2 = st.columns(2)
    with c1.form("rate_limit"):
        names = sorted(t for t in app.tasks if t.startswith("app."))
        name = st.selectbox("Task", names)
        rate = st.text_input("Rate limit (e.g. 10/m, 2/s; empty clears)")
        if st.form_submit_button("Set rate limit…"):
            confirm.ask(f"Set rate limit of {name} to {rate or 'none'}",
                        lambda: actions.set_rate_limit(app, client, name, rate, who))
    with c2.form("purge"):
        queue = st.selectbox("Queue to purge", list(queue_names))
        if st.form_submit_button("Purge queue…"):
            confirm.ask(f"Purge every waiting message of {queue}",
                        lambda: actions.purge_queue(client, broker_client(), queue, who, queue_names))


def stuck_tab() -> None:
    """The diagnosis tab: a task id box ("Why is it stuck?" in a task's detail fills it) and the checks."""
    diag_id = st.text_input("Task id to diagnose", key="diag_id", placeholder="paste a task id")
    if diag_id:
        stuck_panel(diag_id)


def stuck_panel(task_id: str) -> None:
    """Run the "why is this task stuck?" checks and show the verdict and each check."""
    s = settings()
    report = diagnose.diagnose(celery(), redis_client(), broker_client(), task_id.strip(), s.WORKER_OFFLINE_AFTER_S)
    st.markdown(f"History state **{report['state'] or 'unknown'}** · Celery state **{report['celery_state']}**")
    st.info(report["verdict"], icon=":material/troubleshoot:")
    st.dataframe(pd.DataFrame([{"check": f.code, "holds": "yes" if f.holds else "no", "detail": f.message}
                               for f in report["findings"]]), hide_index=True, width="stretch")


def audit_table() -> None:
    """The newest audit entries (the Audit page has filters and export)."""
    entries = audit.recent(redis_client(), 50)
    if not entries:
        st.caption("No operator actions yet.")
        return
    st.dataframe(pd.DataFrame([{"when": when(e["at"]), "who": e["who"], "role": e["role"], "action": e["action"],
                                "target": e["target"], "outcome": e["outcome"],
                                "detail": str(e.get("detail", ""))[:200]} for e in entries]),
                 hide_index=True, width="stretch")
    st.caption("The Audit page (sidebar) filters the whole log and exports it as CSV or JSON.")
