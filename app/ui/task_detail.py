"""One task's detail on the Task Monitor: state, where it ran, related tasks, timeline, arguments,
result, a link to it (``/?task=<id>``), and the actions on it (revoke, terminate,
retry, "Why is it stuck?")."""
from __future__ import annotations

import ast
import json
import re

import pandas as pd
import streamlit as st

from app.monitor import actions
from app.monitor.apps import CONSOLE
from app.store import history
from app.store.states import FINISHED_STATES
from app.telemetry.redaction import redact_text
from app.ui import app_selector, confirm, task_links, timing, workflow_graph
from app.ui.access import can
from app.ui.monitor_tasks import SELECTED
from app.ui.monitor_widgets import ago, progress_percent, when
from app.ui.resources import celery, redis_client, settings
from app.ui.text import plain

#: The Task Monitor's tab set: its widget key, and the label of the diagnosis tab.
TABS_KEY = "mon_tab"
STUCK_TAB = "Why stuck?"
#: Widget key of the diagnosis tab's id box, and the id a "Why is it stuck?" click hands to it.
DIAG_ID = "diag_id"
_DIAG_PENDING = "diag_pending"
RESULT_MAX_CHARS = 20_000
#: The parts a repr cut short (reprlib): shown as text.
_ELIDED = re.compile(r"\[\.\.\.\]|\{\.\.\.\}|\(\.\.\.\)")


def carry_pending_diagnosis() -> None:
    """Before the tabs are drawn: put the id of the last "Why is it stuck?" click into the diagnosis
    tab's id box and open that tab."""
    if task_id := st.session_state.pop(_DIAG_PENDING, None):
        st.session_state[DIAG_ID] = task_id
        st.session_state[TABS_KEY] = STUCK_TAB


def detail(task_id: str) -> None:
    """Everything known about one task, with links to related tasks and actions."""
    client = redis_client()
    task = history.get_task(client, task_id)
    if not task:
        st.info(f"No history for {task_id} (unknown id or past retention).")
        return
    cols = st.columns(4)
    cols[0].metric("State", task.get("state", ""))
    cols[1].metric("Retries", task.get("retries") or 0)
    cols[2].metric("Runtime", f"{task['runtime_s']:.3f} s" if task.get("runtime_s") is not None else "—")
    wait = (task.get("started_at") or 0) - (task.get("sent_at") or 0) if task.get("started_at") and task.get("sent_at") else None
    cols[3].metric("Queue wait", f"{wait:.3f} s" if wait is not None else "—")
    first_seen = task.get("sent_at") or task.get("received_at")
    st.markdown(f"**{plain(task.get('name', ''))}**"
                + (f" · {'sent' if task.get('sent_at') else 'received'} {when(first_seen)} UTC ({ago(first_seen)})"
                   if first_seen else ""))
    st.dataframe(pd.DataFrame([{"task id": task_id, "app": task.get("app") or CONSOLE, "queue": task.get("queue") or "—",
                                "worker": task.get("worker") or "—"}]), hide_index=True, width="stretch")
    st.caption("Link to this task (copy it with the button at its right)")
    st.code(task_links.task_url(task_id, settings().CONSOLE_URL), language=None)
    if line := timing.task_line(task, celery()):  # priority (console scale and broker value), held-until time
        st.caption(line)
    if (percent := progress_percent(task)) is not None:  # running: its last reported percent and step
        st.progress(percent, text=f"{percent}% · {plain(task['progress'].get('message') or '')}")
    if task.get("lost_deliveries"):
        st.warning(f"Lost deliveries: {task['lost_deliveries']} — the worker running this task was lost "
                   "(killed, out of memory, or crashed) and the task was delivered again; see WORKER_LOST "
                   "on the timeline. After MAX_DELIVERIES it is failed instead.", icon=":material/warning:")
    _cost(task)
    _related(client, task, task_id)
    workflow_graph.show(client, task_id, SELECTED)
    tl = history.timeline(client, task_id)
    if tl:
        st.caption("Timeline")
        st.dataframe([{"state": e["state"], "at": when(e["at"]), "+s": round(e["at"] - tl[0]["at"], 3),
                       "info": e.get("info") or ""} for e in tl], hide_index=True, width="stretch")
    st.caption("Arguments (secrets redacted)")
    st.code(redact_text(f"args   = {task.get('args', '')}\nkwargs = {task.get('kwargs', '')}"), language="json",
            wrap_lines=True)
    if task.get("exception"):  # untrusted text: shown as code (never Markdown), secrets masked
        st.caption(":red[Exception]")
        st.code(redact_text(task["exception"]), language=None, wrap_lines=True)
    elif task.get("result"):
        st.caption("Result")
        st.code(redact_text(readable(task["result"])[:RESULT_MAX_CHARS]), language="json", wrap_lines=True)
    if task.get("traceback"):
        with st.expander("Traceback"):
            st.code(redact_text(task["traceback"]), language=None)
    _actions(task)


def readable(text: str) -> str:
    """A stored result, indented one key per line: JSON as it is, a Python literal repr (what Celery
    stores for results of other serializers; ``[...]`` / ``{...}`` are its cut-off parts) as JSON;
    anything else as stored."""
    try:
        value = json.loads(text)
    except ValueError:
        if len(text) > RESULT_MAX_CHARS * 5:
            return text
        try:
            value = ast.literal_eval(_ELIDED.sub(lambda m: repr(m.group(0)), text))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _related(client, task: dict, task_id: str) -> None:
    related = {"parent": task.get("parent_id"), "root": task.get("root_id"), "retry of": task.get("retry_of"),
               "retried as": task.get("retried_as")}
    kids = history.children(client, task_id)
    links = [(k, v) for k, v in related.items() if v and v != task_id] + [("child", k) for k in kids[:20]]
    if links:
        st.caption("Related tasks")
        lc = st.columns(min(len(links), 6))
        for i, (label, rid) in enumerate(links):
            if lc[i % len(lc)].button(f"{label}: {rid[:8]}…", key=f"rel:{label}:{rid}", help=rid):
                st.session_state[SELECTED] = rid
                st.rerun()


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
    queue = app_selector.retry_queue(task) if can("retry") else None  # asked when the history lacks it
    c = st.columns(5)
    mine = f" on app {task.get('app') or CONSOLE}"
    if can("revoke") and c[0].button("Revoke", key=f"revoke:{tid}", disabled=task.get("state") in FINISHED_STATES):
        confirm.ask(f"Revoke {tid}{mine}", lambda: actions.revoke(app, client, tid, who))
    running = task.get("state") in ("STARTED", "PROGRESS")
    for col, (label, sig) in zip(c[1:3], (("Terminate (SIGTERM)", "SIGTERM"), ("Kill (SIGKILL)", "SIGKILL"))):
        if can("terminate") and col.button(label, key=f"term:{sig}:{tid}", disabled=not running,
                                           help="SIGTERM lets the task clean up (or ignore it); SIGKILL "
                                                "cannot be caught: its pool process is gone at once"):
            confirm.ask(f"Terminate running task {tid}{mine} ({sig})",
                        lambda s=sig: actions.revoke(app, client, tid, who, terminate=True, signal=s))
    if can("retry") and c[3].button("Retry with same args", key=f"retry:{tid}",
                                    disabled=task.get("state") not in actions.RETRYABLE_STATES):
        confirm.ask(f"Retry {task.get('name')} ({tid}){mine} with the same arguments", lambda: actions.retry(app, client, tid, who, queue))
    if c[4].button("Why is it stuck?", key=f"diag:{tid}"):
        st.session_state[_DIAG_PENDING] = tid
        st.rerun(scope="app")
