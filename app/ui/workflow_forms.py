"""Workflows page: the composer (kind, steps, arguments, an optional upload), its live preview, and the
Send / Save / Run again / Schedule / Delete actions, each checked by role and audited.

Form widgets keep their values under ``wf_*`` keys; a step's arguments are a JSON object merged over
the task's example (`app.workflows.catalog.TaskShape.example`, empty values left out). In a chain,
each step after the first takes what fits from the previous result (`catalog.suggest_feed`); a
chord's callback takes the header's texts.
"""
from __future__ import annotations

from types import MappingProxyType
import json
from typing import Any

import streamlit as st

from app import workflows
from app.errors import ConsoleError, InvalidInput
from app.ui import access, confirm
from app.ui.resources import celery, redis_client, redis_down_banner, settings
from app.ui.uploads import store_upload
from app.store.clients import STORE_DOWN
from app.workflows import catalog, saved
from app.workflows.model import MAX_STEPS

RUNS = "wf_runs"
KIND_HELP = MappingProxyType({"chain": "one after another, each result feeding the next",
             "group": "all at once, in parallel", "chord": "a group, then a callback that gets every result"})


def _label(name: str) -> str:
    return f"{catalog.TASKS[name].short} — {catalog.TASKS[name].label}"


def _kwargs(key: str, shape: catalog.TaskShape) -> dict[str, Any]:
    raw = st.text_area("Arguments (JSON object)", key=key, height=68,
                       placeholder=json.dumps({k: v or "…" for k, v in shape.example.items()}))
    try:
        given = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise InvalidInput(f"{shape.short}: the arguments are not JSON ({exc}).") from None
    if not isinstance(given, dict):
        raise InvalidInput(f"{shape.short}: the arguments must be a JSON object.")
    return {**{k: v for k, v in shape.example.items() if v not in ("", None)}, **given}


def _step(key: str, title: str) -> workflows.Step | None:
    """One step's task and arguments; None (the error shown under them) when they are not JSON."""
    left, right = st.columns([2, 3])
    with left:
        task = st.selectbox(title, list(catalog.TASKS), format_func=_label, key=f"{key}_task")
    with right:
        try:
            return workflows.Step(task, [], _kwargs(f"{key}_kwargs", catalog.TASKS[task]))
        except InvalidInput as exc:
            st.error(str(exc), icon=":material/block:")
            return None


def _feed(before: workflows.Step, step: workflows.Step) -> dict[str, str]:
    """What `step` takes from `before`'s result: the first fit, unless its arguments give it."""
    fit = catalog.suggest_feed(catalog.TASKS[before.task], catalog.TASKS[step.task])
    return {param: path for param, path in fit.items() if param not in step.kwargs}


def _fill_file(steps: list[workflows.Step], path: str | None) -> None:
    """Give the uploaded file's stored `path` to each unfed step that takes a file_path and has none."""
    for step in steps:
        for param in catalog.TASKS[step.task].files:
            if path and param == "file_path" and not step.kwargs.get(param) and not step.feed:
                step.kwargs[param] = path


def compose() -> workflows.Workflow | None:
    """Draw the composer; the workflow it describes, checked, or None (its error shown)."""
    c1, c2, c3 = st.columns([2, 2, 1])
    kind = c1.radio("Kind", workflows.KINDS, horizontal=True, key="wf_kind", help=" · ".join(
        f"{k}: {v}" for k, v in KIND_HELP.items()))
    name = c2.text_input("Name", "my-workflow", key="wf_name", max_chars=80)
    count = int(c3.number_input("Steps", 1, MAX_STEPS, 2, key="wf_count"))
    steps = [_step(f"wf_s{i}", f"Step {i + 1}") for i in range(count)]
    callback = _step("wf_cb", "Callback (gets every result)") if kind == "chord" else None
    upload = st.file_uploader("Document for the steps that take a file (optional)", key="wf_upload")
    if None in steps or (kind == "chord" and callback is None):
        return None
    try:
        for before, step in zip(steps, steps[1:]) if kind == "chain" else ():
            step.feed = _feed(before, step)
        if callback:
            callback.feed = _feed(steps[0], callback)
        _fill_file(steps + ([callback] if callback else []), _stored(upload))
        wf = workflows.Workflow(name.strip(), kind, steps, callback)
        workflows.Workflow.from_dict(wf.to_dict())
        workflows.validate(celery(), wf, settings().DATA_DIR)
    except ConsoleError as exc:
        st.error(str(exc), icon=":material/block:")
        return None
    return wf


def _stored(upload) -> str | None:
    """The stored path of the upload (stored once per file, as the "upload" act)."""
    if upload is None:
        return None
    cache = st.session_state.setdefault("wf_uploads", {})
    if upload.file_id not in cache:
        cache[upload.file_id] = str(access.run("upload", upload.name, lambda: store_upload(upload)).path)
    return cache[upload.file_id]


def show_preview(wf: workflows.Workflow) -> None:
    """The canvas in words and as a graph, before anything is sent."""
    st.code(workflows.preview(wf), language=None)
    st.graphviz_chart(workflows.dot(wf))


def _act(action: str, target: str, fn, detail: dict | None = None):
    try:
        return access.run(action, target, fn, detail)
    except ConsoleError as exc:
        st.error(str(exc))
    except STORE_DOWN as exc:
        redis_down_banner(exc)
    return None


def send(wf: workflows.Workflow) -> None:
    """Send `wf` (as "submit"); the run is followed below the composer."""
    sent = _act("submit", f"workflow {wf.name}", lambda: saved.run(celery(), redis_client(), wf, settings().DATA_DIR),
                {"kind": wf.kind, "steps": len(wf.steps)})
    if sent is not None:
        st.session_state.setdefault(RUNS, []).insert(0, sent.to_dict())


def save(wf: workflows.Workflow) -> None:
    who = confirm.who()

    def _save() -> str:
        saved.save(celery(), redis_client(), wf, who.name if who else "?", settings().DATA_DIR)
        return wf.name
    if _act("workflow_save", wf.name, _save):
        st.success(f"Saved {wf.name}: run it again from Saved workflows.")


def saved_view() -> None:
    """Saved workflows: preview, run again, schedule (admin) and delete."""
    client = redis_client()
    names = saved.store.names(client)
    if not names:
        st.caption("No saved workflows yet: compose one and press Save.")
        return
    pick = st.selectbox("Saved workflow", names, key="wf_saved_pick")
    try:
        wf = saved.load(client, pick)
    except ConsoleError as exc:
        st.error(str(exc))
        return
    st.code(workflows.preview(wf), language=None)
    c = st.columns([1, 1, 1, 2])
    if access.can("submit") and c[0].button("Run again", key="wf_run_again", type="primary"):
        sent = _act("submit", f"workflow {pick}", lambda: saved.run_saved(celery(), client, pick, settings().DATA_DIR))
        if sent is not None:
            st.session_state.setdefault(RUNS, []).insert(0, sent.to_dict())
    if access.can("workflow_delete") and c[1].button("Delete", key="wf_delete"):
        if _act("workflow_delete", pick, lambda: saved.store.delete(client, pick)):
            st.rerun()
    if access.can("schedule_create"):
        every = c[3].number_input("Every (minutes)", 1, 10_080, 60, key="wf_every")
        if c[2].button("Schedule", key="wf_schedule"):
            entry = _act("schedule_create", saved.schedule_entry_name(pick), lambda: saved.schedule(
                celery(), client, pick, {"type": "interval", "every_s": int(every) * 60}))
            if entry is not None:
                st.success(f"Scheduled on the Schedules page as {entry.name!r}: {entry.description}.")
