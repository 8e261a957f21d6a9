"""Tasks tab of the Task Monitor: filters and search, the live table, task detail and actions."""
from __future__ import annotations

import json
import time

import streamlit as st

from app.ui.text import plain

from app.monitor import actions, workers
from app.store import history
from app.store.states import FINISHED_STATES, STATES
from app.store.history import TaskFilter
from app.telemetry.redaction import redact_text
from app.ui import app_selector, confirm, workflow_graph
from app.ui.access import can
from app.ui.monitor_widgets import ago, tasks_table, when
from app.ui.resources import celery, redis_client

SELECTED = "mon_selected_task"
RANGES_S = {"any time": None, "last 15 min": 900, "last hour": 3600, "last 24 h": 86_400, "last 7 days": 604_800}


def filters(queue_names) -> TaskFilter:
    """Filter widgets (outside the refreshing fragment, so they keep their values)."""
    client = redis_client()
    c = st.columns([1.2, 2, 1.6, 1.6, 1.2, 2])
    state = c[0].selectbox("State", ["any", *STATES], key="mon_state")
    name = c[1].selectbox("Task", ["any", *history.task_names(client)], key="mon_name")
    queue = c[2].selectbox("Queue", ["any", *queue_names], key="mon_queue")
    hosts = workers.hostnames(client, 100)
    worker = c[3].selectbox("Worker", ["any", *hosts], key="mon_worker")
    period = c[4].selectbox("Time", list(RANGES_S), key="mon_period")
    search = c[5].text_input("Search id or args", key="mon_search", placeholder="task id, file name, address…")
    since = time.time() - RANGES_S[period] if RANGES_S[period] else None
    any_ = lambda v: None if v == "any" else v  # noqa: E731
    return TaskFilter(state=any_(state), name=any_(name), queue=any_(queue), worker=any_(worker),
                      since=since, search=search.strip() or None, app=app_selector.current())


def table(flt: TaskFilter, limit: int = 50) -> None:
    """The live page of tasks; selecting a row opens its detail (kept across refreshes)."""
    t0 = time.perf_counter()
    tasks = history.list_tasks(redis_client(), flt, limit=limit)
    took_ms = (time.perf_counter() - t0) * 1000
    df = tasks_table(tasks)
    event = st.dataframe(df, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key="mon_tasks_table", column_config={"id": st.column_config.TextColumn(width="small")})
    rows = event.selection.rows if event and event.selection else []
    if rows and rows[0] < len(df):
        st.session_state[SELECTED] = df.iloc[rows[0]]["id"]
    st.caption(f"{len(tasks)} task(s) shown · query {took_ms:.1f} ms · select a row for its detail")


def detail(task_id: str) -> None:
    """Everything known about one task, with links to related tasks and actions."""
    client = redis_client()
    task = history.get_task(client, task_id)
    if not task:
        st.info(f"No history for {task_id} (unknown id or past retention).")
        return
    cols = st.columns(6)
    cols[0].metric("State", task.get("state", ""))
    cols[1].metric("Retries", task.get("retries") or 0)
    cols[2].metric("Runtime", f"{task['runtime_s']:.3f} s" if task.get("runtime_s") is not None else "—")
    wait = (task.get("started_at") or 0) - (task.get("sent_at") or 0) if task.get("started_at") and task.get("sent_at") else None
    cols[3].metric("Queue wait", f"{wait:.3f} s" if wait is not None else "—")
    cols[4].metric("Queue", task.get("queue") or "—")
    cols[5].metric("Worker", (task.get("worker") or "—").split("@")[0])
    st.markdown(f"**{plain(task.get('name', ''))}** · `{task_id}` · sent {when(task.get('sent_at'))} ({ago(task.get('sent_at'))})")
    if task.get("lost_deliveries"):
        st.warning(f"Lost deliveries: {task['lost_deliveries']} — the worker running this task was lost "
                   "(killed, out of memory, or crashed) and the task was delivered again; see WORKER_LOST "
                   "on the timeline. After MAX_DELIVERIES it is failed instead.", icon=":material/warning:")
    _cost(task)
    related = {"parent": task.get("parent_id"), "root": task.get("root_id"), "retry of": task.get("retry_of"),
               "retried as": task.get("retried_as")}
    kids = history.children(client, task_id)
    links = [(k, v) for k, v in related.items() if v and v != task_id] + [("child", k) for k in kids[:20]]
    if links:
        st.caption("Related tasks")
        lc = st.columns(min(len(links), 6))
        for i, (label, rid) in enumerate(links):
            if lc[i % len(lc)].button(f"{label}: {rid[:8]}…", key=f"rel:{label}:{rid}"):
                st.session_state[SELECTED] = rid
                st.rerun()
    workflow_graph.show(client, task_id, SELECTED)
    tl = history.timeline(client, task_id)
    if tl:
        st.caption("Timeline")
        st.dataframe([{"state": e["state"], "at": when(e["at"]), "+s": round(e["at"] - tl[0]["at"], 3),
                       "info": e.get("info") or ""} for e in tl], hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left:
        st.caption("Arguments (secrets redacted)")
        st.code(redact_text(f"args   = {task.get('args', '')}\nkwargs = {task.get('kwargs', '')}"), language="json")
    with right:  # untrusted text: shown as code (never Markdown), secrets masked
        if task.get("exception"):
            st.caption(":red[Exception]")
            st.code(redact_text(task["exception"]), language=None)
        elif task.get("result"):
            st.caption("Result")
            st.code(redact_text(task["result"][:4000]), language="json")
    if task.get("traceback"):
        with st.expander("Traceback"):
            st.code(redact_text(task["traceback"]), language=None)
    _actions(task)


def _cost(task: dict) -> None:
    """AI tokens and cost, when the result carries them (AI tasks)."""
    try:
        result = json.loads(task.get("result") or "null")
    except ValueError:
        return
    if isinstance(result, dict) and isinstance(result.get("usage"), dict):
        u = result["usage"]
        cost = result.get("cost_usd")
        st.caption(f"AI usage: {u.get('input_tokens', 0)} input + {u.get('output_tokens', 0)} output tokens · "
                   f"cost {'$%.6f' % cost if isinstance(cost, (int, float)) else 'unknown'} · model {result.get('model', '?')}")


def _actions(task: dict) -> None:
    app, client, who, tid = app_selector.monitored_apps(), redis_client(), confirm.who(), task["id"]
    queue = app_selector.retry_queue(task) if can("retry") else None
    c = st.columns(4)
    if can("revoke") and c[0].button("Revoke", key=f"revoke:{tid}", disabled=task.get("state") in FINISHED_STATES):
        confirm.ask(f"Revoke {tid}", lambda: actions.revoke(app, client, tid, who))
    if can("terminate") and c[1].button("Terminate", key=f"term:{tid}",
                                        disabled=task.get("state") not in ("STARTED", "PROGRESS")):
        confirm.ask(f"Terminate running task {tid} (SIGTERM)", lambda: actions.revoke(app, client, tid, who, terminate=True))
    if can("retry") and c[2].button("Retry with same args", key=f"retry:{tid}",
                                    disabled=task.get("state") not in actions.RETRYABLE_STATES):
        confirm.ask(f"Retry {task.get('name')} ({tid}) with the same arguments", lambda: actions.retry(app, client, tid, who, queue))
    if c[3].button("Why is it stuck?", key=f"diag:{tid}"):
        st.session_state["diag_id"] = tid
        st.toast("Open the 'Why stuck?' tab")


def bulk_actions(flt: TaskFilter) -> None:
    """Revoke or retry every task matching the current filter (confirmation first)."""
    if not can("bulk_revoke"):
        return
    app, client, who = app_selector.monitored_apps(), redis_client(), confirm.who()
    active = {k: v for k, v in vars(flt).items() if v}
    c = st.columns([1, 1, 4])
    label = ", ".join(f"{k}={v if k not in ('since',) else when(v)}" for k, v in active.items()) or "all tasks"
    if c[0].button("Bulk revoke", key="bulk_revoke", disabled=not active):
        confirm.ask(f"Revoke every task matching {label} (up to 500)", lambda: actions.bulk(app, client, flt, "revoke", who))
    if c[1].button("Bulk retry", key="bulk_retry", disabled=not active):
        n = actions.bulk_preview(client, flt, "retry")  # dry run first: the count goes in the question
        confirm.ask(f"Retry {n['would_act']} FAILURE/REVOKED task(s) of the {n['matching']} matching {label} "
                    f"(others are skipped)", lambda: actions.bulk(app, client, flt, "retry", who))
    c[2].caption("Bulk actions apply to the current filter (choose at least one filter).")
