"""Checking a workflow before anything is sent: known tasks, arguments that bind, results that fit.

Rules (each broken one is an `InvalidInput` naming the step and what to change):

- every step (and a chord's callback) is a task of `app.workflows.catalog.TASKS` registered on the
  Celery app;
- a chain's first step, and every member of a group or chord header, takes no ``feed`` (nothing
  comes before them); a chord has a callback, a chain or group has none;
- a fed parameter is one the step takes from a previous result, the path is one the previous step
  gives (for a chord callback: every header step), and the kinds match (`catalog` kinds);
- the arguments bind to the task's signature with the fed parameters filled (no missing or
  unexpected argument);
- parameters that name stored files (`TaskShape.files`) exist under DATA_DIR.
"""
from __future__ import annotations

import inspect
from pathlib import Path

from app.errors import InvalidInput
from app.files import storage
from app.workflows import catalog
from app.workflows.model import Step, Workflow


def validate(app, wf: Workflow, data_dir: Path | None = None) -> None:
    """Check `wf` against the rules above; `data_dir` None skips the stored-file check.

    Raises:
        InvalidInput: the first rule broken, e.g. "Step 2 (send_email): outputs.stats (an object)
            does not fit body (text)."
    """
    if wf.kind == "chord" and wf.callback is None:
        raise InvalidInput("A chord needs a callback step: the task that gets every header result.")
    if wf.kind != "chord" and wf.callback is not None:
        raise InvalidInput(f"A {wf.kind} has no callback; choose kind chord for one.")
    for i, step in enumerate(wf.steps):
        before = wf.steps[i - 1] if wf.kind == "chain" and i > 0 else None
        _check_step(app, f"Step {i + 1}", step, [before] if before else [], data_dir)
    if wf.callback is not None:
        _check_step(app, "Callback", wf.callback, wf.steps, data_dir)


def _check_step(app, where: str, step: Step, before: list[Step], data_dir: Path | None) -> None:
    shape = catalog.shape(step.task)
    label = f"{where} ({shape.short})"
    if step.task not in app.tasks:
        raise InvalidInput(f"{label}: the task is not registered on this Celery app.")
    if step.feed and not before:
        raise InvalidInput(f"{label}: nothing comes before this step to feed {', '.join(step.feed)}; "
                           f"give the value as an argument instead.")
    for param, path in step.feed.items():
        wanted = shape.takes.get(param)
        if wanted is None:
            raise InvalidInput(f"{label} takes no {param!r} from a previous step (it takes "
                               f"{', '.join(shape.takes) or 'nothing'}).")
        for prev in before:
            given = catalog.shape(prev.task).gives.get(path)
            if given is None:
                raise InvalidInput(f"{label}: {catalog.shape(prev.task).short}'s result has no {path!r} "
                                   f"(it gives {', '.join(catalog.shape(prev.task).gives)}).")
            if given != wanted:
                raise InvalidInput(f"{label}: {path} ({catalog.KIND_WORDS[given]}) does not fit {param} "
                                   f"({catalog.KIND_WORDS[wanted]}).")
        if len(before) > 1 and wanted != catalog.TEXT:
            raise InvalidInput(f"{label}: a chord callback can only be fed text (the header's texts joined).")
    params = inspect.signature(app.tasks[step.task].run).parameters
    for param in (p for p in shape.files if p not in step.feed):
        value = step.kwargs.get(param)
        if value in (None, ""):
            if param in params and params[param].default is inspect.Parameter.empty:
                raise InvalidInput(f"{label}: choose a stored file for {param} (upload one, or give its stored path).")
        elif not isinstance(value, str):
            raise InvalidInput(f"{label}: {param} must be the stored path of a file.")
        elif data_dir is not None:
            storage.existing_file(data_dir, str(value),
                                  f"{label}: the stored file is missing: {{name}}. Upload it again.")
    try:
        _check_arguments(label, app.tasks[step.task].run, step)
    except InvalidInput as exc:
        if before and not step.feed and shape.takes:
            gives = ", ".join(f"{p} ({catalog.KIND_WORDS[k]})" for p, k in catalog.shape(before[0].task).gives.items())
            raise InvalidInput(f"{exc} Nothing in {catalog.shape(before[0].task).short}'s result fits "
                               f"{' or '.join(shape.takes)} (it gives {gives}).") from None
        raise


def _check_arguments(label: str, fn, step: Step) -> None:
    clash = set(step.feed) & set(step.kwargs)
    if clash:
        raise InvalidInput(f"{label}: {', '.join(sorted(clash))} is fed by the previous step; remove it "
                           f"from the arguments.")
    try:
        inspect.signature(fn).bind(*step.args, **step.kwargs, **{p: None for p in step.feed})
    except TypeError as exc:
        raise InvalidInput(f"{label}: {exc}.") from None
