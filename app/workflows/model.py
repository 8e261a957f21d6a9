"""A workflow as data: its kind, its steps (console task names with their arguments) and, for a chord,
its callback. The same dict shape is what the page composes, what the store saves and what beat's
`run_saved` task loads::

    {"name": "doc-summary", "kind": "chain",
     "steps": [{"task": "app.tasks.file_tasks.process_word_document",
                "kwargs": {"file_path": "/data/uploads/ab12/report.docx"}},
               {"task": "app.tasks.ai_tasks.analyze_document", "kwargs": {"analysis_type": "summary"},
                "feed": {"text_file": "outputs.text_file"}},
               {"task": "app.tasks.email_tasks.send_email",
                "kwargs": {"to_email": "ann@example.com", "subject": "Summary"},
                "feed": {"body": "content"}}],
     "callback": null}

``feed`` maps a parameter of the step to a dotted path in the previous step's result (for a chord
callback: in each header result, the texts joined). A step without ``feed`` ignores what came
before it (an immutable signature).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.errors import InvalidInput

KINDS = ("chain", "group", "chord")
MAX_STEPS = 20
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,79}$")


@dataclass
class Step:
    """One task of a workflow: `task` name, `args` (list), `kwargs` (dict), `feed` ({param: path})."""

    task: str
    args: list = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    feed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "args": list(self.args), "kwargs": dict(self.kwargs), "feed": dict(self.feed)}

    @classmethod
    def from_dict(cls, raw: Any) -> Step:
        """Raises InvalidInput when `raw` is not ``{'task': str, 'args'?: list, 'kwargs'?: dict,
        'feed'?: {str: str}}``."""
        if not isinstance(raw, dict) or not isinstance(raw.get("task"), str) or not raw["task"]:
            raise InvalidInput("Each step needs a task name: {'task': 'app.tasks....', 'kwargs': {...}}.")
        args, kwargs, feed = raw.get("args") or [], raw.get("kwargs") or {}, raw.get("feed") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(feed, dict) \
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in feed.items()):
            raise InvalidInput(f"Step {raw['task']}: args must be a list, kwargs an object and feed "
                               f"an object of parameter -> result path.")
        return cls(raw["task"], list(args), dict(kwargs), dict(feed))


@dataclass
class Workflow:
    """`kind` chain | group | chord; `steps` (a chord's header); `callback` (chord only)."""

    name: str
    kind: str
    steps: list[Step]
    callback: Step | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "steps": [s.to_dict() for s in self.steps],
                "callback": self.callback.to_dict() if self.callback else None}

    @classmethod
    def from_dict(cls, raw: Any) -> Workflow:
        """Parse the shape in the module docstring.

        Raises:
            InvalidInput: a bad name, kind, step list (none, or more than MAX_STEPS) or step.
        """
        if not isinstance(raw, dict):
            raise InvalidInput("A workflow is an object with name, kind and steps.")
        name = str(raw.get("name") or "").strip()
        if not _NAME.match(name):
            raise InvalidInput("Name the workflow: letters, digits, spaces, '_', '.' or '-' (at most 80).")
        if raw.get("kind") not in KINDS:
            raise InvalidInput(f"Workflow kind must be one of {', '.join(KINDS)} (got {raw.get('kind')!r}).")
        steps = raw.get("steps")
        if not isinstance(steps, list) or not steps:
            raise InvalidInput("A workflow needs at least one step.")
        if len(steps) > MAX_STEPS:
            raise InvalidInput(f"A workflow holds at most {MAX_STEPS} steps (got {len(steps)}).")
        callback = Step.from_dict(raw["callback"]) if raw.get("callback") else None
        return cls(name, raw["kind"], [Step.from_dict(s) for s in steps], callback)
