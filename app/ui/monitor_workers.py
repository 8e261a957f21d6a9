"""Workers, queues and audit parts of the Task Monitor, with the operator actions on them."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui.text import plain

from app.access import audit
from app.monitor import actions, diagnose
from app.monitor.apps import CONSOLE
from app.monitor.queues import QueueDetail
from app.telemetry.redaction import redact_text
from app.ui import app_selector, arrow_table, confirm
from app.ui.access import can
from app.ui.monitor_widgets import ago, when
from app.ui.resources import celery, redis_client, settings


def queue_table(details: list[QueueDetail], paused=()) -> None:
    """The queues' detail table (ready, reserved, ETA-held, consumers, latency, status); the
    "no consumer" errors are `stuck_warnings`, drawn above it."""
    rows = [{"queue": d.name, "ready": d.ready, "reserved": _known(d.reserved), "ETA-held": _known(d.eta_held),
             "consumers": len(d.consumers or []),
             **({"broker consumers": d.broker_consumers} if d.broker_consumers is not None else {}),
             "latency": latency_text(d),
             "status": "paused" if d.name in paused else (
                 "⚠ no consumer" if d.stuck else ("idle" if not d.ready else "ok"))} for d in details]
    st.dataframe(arrow_table.from_rows(rows), hide_index=True, width="stretch")
    reasons = {f"{field}: {why}" for d in details for field, why in d.unknown.items()}
    if reasons:
        st.caption("Unknown on this broker — " + "; ".join(sorted(reasons)))


def stuck_warnings(details: list[QueueDetail], paused=()) -> None:
    """One error per queue with waiting messages and no consumer (a paused queue is not stuck)."""
    for d in details:
        if d.stuck and d.name not in paused:
            st.error(f"{plain(d.name)} has {d.ready} waiting message(s) and no consumer: start a worker for it "
                     f"(`./celery_worker.sh`) or add a consumer below.", icon=":material/error:")


def latency_text(d: QueueDetail) -> str:
    """The latency cell: "12.0 s", "≥ 12.0 s" when the age is a lower bound (the message was first
    seen at the head of the queue, its publish time unknown), "unknown" (with a reason in
    `d.unknown`) or "—" (nothing waits)."""
    if d.latency_s is not None:
        return f"{'≥ ' if d.latency_lower_bound else ''}{d.latency_s:.1f} s"
    return "unknown" if "latency_s" in d.unknown else "—"


def _known(value):
    return "unknown" if value is None else value


def worker_detail(w) -> None:
    with st.expander(f"{'online' if w.online else 'OFFLINE'} · {plain(w.hostname)} · {w.pool} × {w.concurrency} · "
                     f"{w.active_count} active · heartbeat {ago(w.last_heartbeat)} · from {w.source}"):
        st.write({"app": w.app, "source": w.source, "queues": w.queues, "pid": w.pid, "processed": w.processed,
                  "loadavg": w.loadavg, "last heartbeat": when(w.last_heartbeat), "reserved": w.reserved,
                  **({"software": f"{w.sw_ident} {w.sw_ver}".strip()} if w.sw_ident else {})})
        if w.active:  # argsrepr from the heartbeat / events: masked again here (older workers, other apps)
            st.dataframe(pd.DataFrame([{k: (redact_text(v) if isinstance(v, str) else v) for k, v in a.items()}
                                       for a in w.active]), hide_index=True, width="stretch")


#: The worker operations of the Workers & queues tab (Flower's worker page has the same set: pool
#: grow/shrink/autoscale/restart, shut down, add/cancel consumer; rate and time limits per task are
#: in `task_limits`).
WORKER_ACTIONS = ("pool grow", "pool shrink", "autoscale", "add consumer", "cancel consumer", "pool restart",
                  "shut down")


def worker_actions(workers, queue_names) -> None:
    """The worker operations (`WORKER_ACTIONS`), task rate and time limits and purge: each confirmed,
    checked and audited (admin), each sent to the worker's own app (its record's ``app``; the
    app chosen in the selector for the task limits and the purge). Only the chosen app's online
    workers are offered (every app's with "all apps"). The inputs show for the actions they apply
    to: the queue for the consumer actions, the process count for grow/shrink, the bounds for
    autoscale."""
    if not can("pool_grow"):
        return
    app, client, who, chosen = app_selector.monitored_apps(), redis_client(), confirm.who(), app_selector.current()
    app_of = {w.hostname: w.app for w in workers if w.online and chosen in (None, w.app)}
    online = sorted(app_of)
    with st.container(border=True):
        c = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
        host = c[0].selectbox("Worker", online or ["(none online)"], key="wa_host",
                              format_func=lambda h: f"{h} ({app_of[h]})" if h in app_of and len(app) > 1 else h)
        action = c[1].selectbox("Action", WORKER_ACTIONS, key="wa_action")
        queue = c[2].selectbox("Queue", list(queue_names), key="wa_queue") if "consumer" in action else None
        n = (c[2].number_input("Processes", min_value=1, max_value=64, value=1, key="wa_n")
             if action.startswith("pool ") and action != "pool restart" else 1)
        low = high = None
        if action == "autoscale":
            lo, hi = c[2].columns(2)
            low = lo.number_input("Min", min_value=0, max_value=256, value=1, key="wa_min")
            high = hi.number_input("Max", min_value=1, max_value=256, value=4, key="wa_max")
        if c[3].button("Apply…", disabled=not online, key="wa_apply"):
            on = app_of.get(host)
            fns = {"pool grow": lambda: actions.pool_resize(app, client, host, int(n), who, on),
                   "pool shrink": lambda: actions.pool_resize(app, client, host, -int(n), who, on),
                   "autoscale": lambda: actions.autoscale(app, client, host, int(high), int(low), who, on),
                   "add consumer": lambda: actions.consumer(app, client, host, queue, True, who, on),
                   "cancel consumer": lambda: actions.consumer(app, client, host, queue, False, who, on),
                   "pool restart": lambda: actions.pool_restart(app, client, host, who, on),
                   "shut down": lambda: actions.shutdown_worker(app, client, host, who, on)}
            what = {"pool grow": f"pool grow by {n}", "pool shrink": f"pool shrink by {n}",
                    "autoscale": f"autoscale between {low} and {high} processes"}.get(action, action)
            confirm.ask(f"{what} on {host} (app {on})" + (f" for {queue}" if queue else ""), fns[action])
    c1, c2 = st.columns(2)
    with c1:
        task_limits(app, client, who, chosen)
    with c2.form("purge"):
        queue = st.selectbox("Queue to purge", list(queue_names))
        if st.form_submit_button("Purge queue…"):
            confirm.ask(f"Purge every waiting message of {queue} (app {chosen or CONSOLE})",
                        lambda: actions.purge_queue(client, app_selector.broker(), queue, who, queue_names, chosen))


def task_limits(app, client, who, chosen: str | None) -> None:
    """One task name's rate limit and soft/hard time limits, set on every worker of the chosen app
    (the console's with "all apps") through Celery's ``rate_limit`` and ``time_limit`` commands."""
    on = chosen or CONSOLE
    with st.form("rate_limit"):
        names = app_selector.task_names(sorted(t for t in celery().tasks if t.startswith("app.")))
        name = st.selectbox("Task", names, key="tl_task")
        rate = st.text_input("Rate limit (e.g. 10/m, 2/s; empty clears)", key="tl_rate")
        soft_col, hard_col = st.columns(2)
        soft = soft_col.number_input("Soft time limit (s)", min_value=0.0, value=None, key="tl_soft",
                                     help="Empty: leave unset. The task gets SoftTimeLimitExceeded")
        hard = hard_col.number_input("Hard time limit (s)", min_value=0.0, value=None, key="tl_hard",
                                     help="Empty: leave unset. The pool process running it is killed")
        rate_btn, time_btn = st.columns(2)
        if rate_btn.form_submit_button("Set rate limit…"):
            confirm.ask(f"Set rate limit of {name} to {rate or 'none'} on app {on}",
                        lambda: actions.set_rate_limit(app, client, name, rate, who, chosen))
        if time_btn.form_submit_button("Set time limits…"):
            confirm.ask(f"Set time limits of {name} on app {on}: soft {_secs(soft)}, hard {_secs(hard)}",
                        lambda: actions.set_time_limit(app, client, name, soft, hard, who, chosen))


def _secs(value) -> str:
    return "unset" if value is None else f"{value:g} s"


def stuck_tab() -> None:
    """The diagnosis tab: a task id box ("Why is it stuck?" in a task's detail fills it) and the checks."""
    diag_id = st.text_input("Task id to diagnose", key="diag_id", placeholder="paste a task id")
    if diag_id:
        stuck_panel(diag_id)


def stuck_panel(task_id: str) -> None:
    """Run the "why is this task stuck?" checks and show the verdict and each check."""
    s = settings()
    report = diagnose.diagnose(app_selector.monitored_apps(), redis_client(), app_selector.console_broker(), task_id.strip(), s.WORKER_OFFLINE_AFTER_S)
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
