"""From a checked `Workflow` to Celery's canvas: signatures, a preview, and sending it.

Every step's task id is chosen when the canvas is built, so the page can follow each step from the
moment it is sent. A step without ``feed`` is an immutable signature (``app.signature(name, args,
kwargs, immutable=True)``): it ignores the previous result. A fed step is preceded by the adapter
task `FEED_TASK` (``feed(previous, task, args, kwargs, feed, step_id)``, on default_queue): it picks
the fed values out of the previous result, sends the step under its chosen id and hands it the rest
of the chain, so a fed step shows in the workflow graph as adapter → step. A chain is
``celery.chain``, a group ``celery.group``, a chord ``celery.chord(group, callback)``.

Every signature carries the console's "normal" priority translated for the app's broker
(`app.priority.for_app`), so a workflow's tasks queue in the same order on Redis and on RabbitMQ
(Celery sends each later chain element with its signature's own options).

Retrying a failed chain step (`rest_of_chain`): the step is sent again with the signatures of the
steps after it attached as its chain, under the ids chosen when the workflow was built, so the
chain goes on from the retried step as it would have from the original one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from celery import chain, chord, group
from celery.canvas import Signature
from celery.utils import uuid

from app import priority
from app.errors import InvalidInput
from app.workflows import catalog
from app.workflows.model import Step, Workflow

FEED_TASK = "app.tasks.workflow_tasks.feed"


def normal_priority(app) -> int:
    """The ``priority=`` value of the console's "normal" level on `app`'s broker."""
    return priority.for_app(app, priority.DEFAULT_LEVEL)


def step_signature(app, step: Step, step_id: str) -> Signature:
    """The signature of one step whose own task will have id `step_id` (see the module docstring),
    at the console's normal priority."""
    if step.feed:
        return app.signature(FEED_TASK, kwargs={"task": step.task, "args": step.args, "kwargs": step.kwargs,
                                                "feed": step.feed, "step_id": step_id},
                             priority=normal_priority(app))
    return app.signature(step.task, args=step.args, kwargs=step.kwargs, immutable=True, task_id=step_id,
                         priority=normal_priority(app))


def build(app, wf: Workflow) -> tuple[Signature, list[str]]:
    """The canvas of `wf` (call `validation.validate` first): a chain, group or chord signature,
    and the task id each step will run under (steps in order, a chord's callback last)."""
    members = wf.steps + ([wf.callback] if wf.callback else [])
    ids = [uuid() for _ in members]
    sigs = [step_signature(app, s, i) for s, i in zip(members, ids)]
    if wf.kind == "chain":
        return chain(*sigs, app=app), ids
    if wf.kind == "group":
        return group(sigs, app=app), ids
    return chord(group(sigs[:-1], app=app), sigs[-1], app=app), ids


def rest_of_chain(app, wf: Workflow, step_ids: list[str], step_id: str) -> list[Signature]:
    """The signatures of the steps after `step_id` in the chain `wf` sent as `step_ids` (in run
    order, each under its original id): what a retry of that step sends as its chain. [] for the
    last step, and for groups and chords (their members have no "after": a chord's callback waits
    on the original header).

    Raises:
        InvalidInput: `step_id` is not one of `step_ids`, or `step_ids` does not match `wf`'s steps.
    """
    if wf.kind != "chain":
        return []
    if step_id not in step_ids:
        raise InvalidInput(f"Task {step_id} is not a step of workflow {wf.name!r}.")
    if len(step_ids) != len(wf.steps):
        raise InvalidInput(f"Workflow {wf.name!r} was sent with {len(step_ids)} steps, its definition has "
                           f"{len(wf.steps)}; the rest of the chain cannot be rebuilt.")
    i = step_ids.index(step_id)
    return [step_signature(app, s, sid) for s, sid in zip(wf.steps[i + 1:], step_ids[i + 1:])]


def _line(step: Step) -> str:
    parts = [repr(a) for a in step.args]
    parts += [f"{k}={_short(v)}" for k, v in step.kwargs.items()]
    parts += [f"{k} ← {path}" for k, path in step.feed.items()]
    return f"{catalog.shape(step.task).short}({', '.join(parts)})"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…'"


def preview(wf: Workflow) -> str:
    """The canvas in words, one line per step, e.g.::

        chain 'doc-summary' (3 steps)
          1. process_word_document(file_path='/…/report.docx')
          2. → analyze_document(analysis_type='summary', text_file ← outputs.text_file)
          3. → send_email(to_email='ann@example.com', body ← content)
    """
    lines = [f"{wf.kind} {wf.name!r} ({len(wf.steps)} step{'s' if len(wf.steps) != 1 else ''}"
             f"{' + callback' if wf.callback else ''})"]
    arrow = "→ " if wf.kind == "chain" else "∥ "
    for i, step in enumerate(wf.steps):
        lines.append(f"  {i + 1}. {arrow if i else ''}{_line(step)}")
    if wf.callback:
        lines.append(f"  then ⇒ {_line(wf.callback)}  (gets every header result)")
    return "\n".join(lines)


def dot(wf: Workflow) -> str:
    """The canvas as a Graphviz DOT graph (left to right; a fed edge is labelled with its path)."""
    out = ["digraph workflow {", "  rankdir=LR; node [shape=box, style=rounded, fontsize=11];"]
    names = [f"s{i}" for i in range(len(wf.steps))]
    for n, step in zip(names, wf.steps):
        out.append(f'  {n} [label="{catalog.shape(step.task).short}"];')
    if wf.kind == "chain":
        for i in range(1, len(names)):
            label = ", ".join(f"{p} ← {v}" for p, v in wf.steps[i].feed.items())
            out.append(f'  {names[i - 1]} -> {names[i]} [label="{label}", fontsize=9];')
    else:
        out.append('  start [shape=point];')
        out += [f"  start -> {n};" for n in names]
    if wf.callback:
        out.append(f'  cb [label="{catalog.shape(wf.callback.task).short}", style="rounded,bold"];')
        label = ", ".join(f"{p} ← {v}" for p, v in wf.callback.feed.items())
        out += [f'  {n} -> cb [label="{label}", fontsize=9];' for n in names]
    out.append("}")
    return "\n".join(out)


@dataclass
class Sent:
    """A sent workflow: `step_ids` the task id of each step in order (a chord's callback last),
    `result_id` the step whose result ends it (a chain's last step, a chord's callback; for a
    group, its last member), `first_id` the task to draw the workflow graph from, `definition`
    the workflow's dict (`Workflow.to_dict`; what a retry of a chain step rebuilds the rest from)."""

    name: str
    kind: str
    step_ids: list[str] = field(default_factory=list)
    definition: dict | None = None

    @property
    def first_id(self) -> str:
        return self.step_ids[0]

    @property
    def result_id(self) -> str:
        return self.step_ids[-1]

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "step_ids": self.step_ids, "result_id": self.result_id,
                "definition": self.definition}


def send(app, wf: Workflow) -> Sent:
    """Send `wf` through `app` (validated first by the caller). Returns `Sent` with every step's id.

    Raises:
        What ``apply_async`` raises when the broker is unreachable (kombu's OperationalError).
    """
    sig, ids = build(app, wf)
    sig.apply_async()
    return Sent(wf.name, wf.kind, ids, wf.to_dict())


def fed_signature(app, previous, task: str, args: list, kwargs: dict, feed: dict[str, str],
                  step_id: str | None = None, priority_value: int | None = None) -> Signature:
    """The signature a fed step becomes once the previous result is known: `kwargs` plus, for each
    ``param -> path`` of `feed`, the value at `path` in `previous` (a list of results, as a chord
    callback gets: their texts joined by a blank line). Immutable: the step takes nothing else.
    Sent at `priority_value` (the broker's value; None: the console's normal priority).

    Raises:
        InvalidInput: `task` is not a workflow step task, or a path is not in the result.
    """
    catalog.shape(task)
    values = {}
    for param, path in feed.items():
        if isinstance(previous, list):
            values[param] = "\n\n".join(str(catalog.pick(r, path)) for r in previous)
        else:
            values[param] = catalog.pick(previous, path)
    return app.signature(task, args=list(args), kwargs={**kwargs, **values}, immutable=True,
                         priority=normal_priority(app) if priority_value is None else int(priority_value),
                         **({"task_id": step_id} if step_id else {}))
