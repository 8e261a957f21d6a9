"""Workflows page: the runs sent in this session, followed live — each step's state and percent, the
workflow graph (`app.ui.workflow_graph`), a link from every node to its task in the Task Monitor,
and Retry on a failed step (the same arguments, `app.monitor.actions.retry`; in a chain, with the
steps after it attached, so the chain goes on from the retried step)."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.monitor import actions
from app.store import history
from app.store.clients import STORE_DOWN
from app.store.states import FINISHED_STATES
from app.ui import confirm, workflow_graph
from app.ui.access import can
from app.ui.auth import fragment  # st.fragment that checks the session on each of its runs
from app.ui.monitor_tasks import SELECTED as MONITOR_SELECTED
from app.ui.resources import celery, redis_client, redis_down_banner
from app.workflows import Workflow, canvas

REFRESH_S = 2
PICKED = "wf_selected"
MONITOR_PAGE = "pages/task_monitor.py"


def open_in_monitor(task_id: str) -> None:
    """Go to the Task Monitor with `task_id`'s detail open (when the page runs alone, outside the
    console's navigation, the detail is opened there on the next visit)."""
    st.session_state[MONITOR_SELECTED] = task_id
    try:
        st.switch_page(MONITOR_PAGE)
    except StreamlitAPIException:
        st.info(f"Task {task_id} is selected in the Task Monitor.")


def step_rows(client, step_ids: list[str]) -> list[dict]:
    """One row per step: task, id, state, percent and message (from the history)."""
    rows = []
    for i, tid in enumerate(step_ids):
        task = history.get_task(client, tid) or {}
        progress = task.get("progress") if isinstance(task.get("progress"), dict) else {}
        running = task.get("state") == "PROGRESS"
        rows.append({"step": i + 1, "task": (task.get("name") or "…").rsplit(".", 1)[-1], "id": tid,
                     "state": task.get("state") or "PENDING",
                     "percent": progress.get("percent") if running else
                     (100 if task.get("state") == "SUCCESS" else None),
                     "message": (progress.get("message") or "") if running else (task.get("exception") or "")[:120]})
    return rows


def retry_step(app, client, run: dict, step_id: str, who) -> dict:
    """Retry the failed step `step_id` of `run` (a `Sent.to_dict`) on `app`: in a chain, the steps
    after it are attached as its chain (`canvas.rest_of_chain`), so the chain goes on. The run then
    follows the new task in that step's place. Returns `actions.retry`'s outcome.

    Raises:
        InvalidInput: as `actions.retry` and `canvas.rest_of_chain`.
        PermissionDenied: the role may not retry (audited).
    """
    then = []
    if run.get("kind") == "chain" and run.get("definition"):
        then = canvas.rest_of_chain(app, Workflow.from_dict(run["definition"]), run["step_ids"], step_id)
    out = actions.retry(app, client, step_id, who, then=then)
    run["step_ids"] = [out["new_id"] if i == step_id else i for i in run["step_ids"]]
    return out


def _retry(run: dict, step_id: str) -> dict:
    out = retry_step(celery(), redis_client(), run, step_id, confirm.who())
    st.session_state.pop("wf_runs_done", None)  # follow the run live again
    return out


def _run(run: dict) -> bool:
    """Draw one run; True when every step has finished."""
    client = redis_client()
    rows = step_rows(client, run["step_ids"])
    st.markdown(f"**{run['name']}** · {run['kind']} · {len(rows)} steps")
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        "percent": st.column_config.ProgressColumn("percent", min_value=0, max_value=100, format="%d%%")})
    workflow_graph.show(client, run["step_ids"][0], PICKED)
    picked = st.session_state.get(PICKED)
    cols = st.columns(4)
    for i, row in enumerate(rows):
        if cols[i % 4].button(f"Open step {row['step']}: {row['task']}", key=f"wf_open:{row['id']}"):
            open_in_monitor(row["id"])
        if row["state"] == "FAILURE" and can("retry") and cols[i % 4].button(
                f"Retry step {row['step']}", key=f"wf_retry:{row['id']}"):
            confirm.ask(f"Retry step {row['step']} ({row['task']}) with the same arguments"
                        + (" and go on with the steps after it" if run["kind"] == "chain" else ""),
                        lambda tid=row["id"]: _retry(run, tid))
    if picked and picked not in run["step_ids"] and st.button(f"Open the selected task {picked[:8]}…",
                                                               key=f"wf_open_pick:{run['step_ids'][0]}"):
        open_in_monitor(picked)
    return all(r["state"] in FINISHED_STATES for r in rows)


def runs_view(runs: list[dict], shown: int = 3) -> None:
    """The newest `shown` runs; refreshes every REFRESH_S while a step is unfinished."""
    @fragment(run_every=REFRESH_S)
    def _live():
        try:
            done = [_run(run) for run in runs[:shown]]
        except STORE_DOWN as exc:
            redis_down_banner(exc)
            return
        if all(done):
            st.session_state["wf_runs_done"] = len(runs)
            st.rerun(scope="app")

    if st.session_state.get("wf_runs_done") == len(runs):
        try:
            for run in runs[:shown]:
                _run(run)
        except STORE_DOWN as exc:
            redis_down_banner(exc)
    else:
        _live()
