"""Saved workflows: save, load, run again, put on beat's schedule.

A saved workflow is the workflow dict of `app.workflows.model` kept by `app.store.workflows`. Run
from beat, it is the task `RUN_SAVED_TASK` with the workflow's name as its one argument: the task
loads the definition when it runs, so an edit saved later applies to the next scheduled run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from app.errors import InvalidInput
from app.store import workflows as store
from app.workflows import canvas, validation
from app.workflows.model import Workflow

RUN_SAVED_TASK = "app.tasks.workflow_tasks.run_saved"


def save(app, client, wf: Workflow, saved_by: str, data_dir: Path | None = None) -> None:
    """Check `wf` (stored files too when `data_dir` is given), then store it under its name.

    Raises:
        InvalidInput: as `validation.validate`.
    """
    validation.validate(app, wf, data_dir)
    store.save(client, wf.name, wf.to_dict(), saved_by)


def load(client, name: str) -> Workflow:
    """The saved workflow `name`.

    Raises:
        InvalidInput: no workflow is saved under that name.
    """
    entry = store.get(client, name)
    if entry is None:
        raise InvalidInput(f"No saved workflow named {name!r}; save it on the Workflows page first.")
    return Workflow.from_dict(entry["definition"])


def run(app, client, wf: Workflow, data_dir: Path | None) -> canvas.Sent:
    """Check `wf`, send it through `app`, and record the run when it is a saved one.

    Raises:
        InvalidInput: as `validation.validate` (nothing is sent).
    """
    validation.validate(app, wf, data_dir)
    sent = canvas.send(app, wf)
    if store.get(client, wf.name) is not None:
        store.record_run(client, wf.name, sent.to_dict())
    return sent


def run_saved(app, client, name: str, data_dir: Path | None) -> canvas.Sent:
    """Load the saved workflow `name` and `run` it. Raises InvalidInput as `load` and `run`."""
    return run(app, client, load(client, name), data_dir)


def schedule_entry_name(name: str) -> str:
    """The beat entry name of a saved workflow's schedule."""
    return f"workflow {name}"


def schedule(app, client, name: str, spec: dict[str, Any], enabled: bool = True):
    """Create (or replace) the beat entry that runs the saved workflow `name` on `spec` (an
    `app.schedules.schedule_spec` dict). Returns the `app.schedules.EntryInfo`.

    Raises:
        InvalidInput: no such saved workflow, or an invalid schedule.
    """
    from app import schedules

    load(client, name)
    return schedules.save_entry(app, schedule_entry_name(name), RUN_SAVED_TASK, spec, [name], {}, None, enabled)
