"""The console tasks a workflow step may be, with the shapes of what each takes and gives.

A step's result feeds the next step's parameter when their *kinds* match:

- ``text``       a string of text (an AI answer's ``content``, a text preview);
- ``text_file``  the stored path of a UTF-8 text file (a processed document's ``outputs.text_file``);
- ``file``       the stored path of any file (a processed document's ``file_path``);
- ``object``     a JSON object (``outputs.stats``), and ``id`` an identifier (a Message-ID): never fed.

Paths into a result are dotted keys (``outputs.text_file`` = ``result['outputs']['text_file']``),
as the task docstrings in ``app/tasks`` describe their results.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from app.errors import InvalidInput

TEXT, TEXT_FILE, FILE, OBJECT, ID = "text", "text_file", "file", "object", "id"
KIND_WORDS = MappingProxyType({TEXT: "text", TEXT_FILE: "a text file", FILE: "a file", OBJECT: "an object",
                               ID: "an id"})


@dataclass(frozen=True)
class TaskShape:
    """One task a step may be.

    Attributes:
        name: the Celery task name (``app.tasks.<module>.<function>``).
        label: short words for the page.
        takes: parameter -> kind it accepts from a previous result, in order of preference.
        gives: dotted path in the result -> kind of the value there.
        files: parameters that must name a stored file (checked before sending).
        example: keyword arguments the page offers as a start.
    """

    name: str
    label: str
    takes: dict[str, str] = field(default_factory=dict)
    gives: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    example: dict[str, Any] = field(default_factory=dict)

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]


_F, _A, _E = "app.tasks.file_tasks.", "app.tasks.ai_tasks.", "app.tasks.email_tasks."
_DOC_GIVES = MappingProxyType({"outputs.text_file": TEXT_FILE, "outputs.text_preview": TEXT,
                               "file_path": FILE})
_AI_GIVES = MappingProxyType({"content": TEXT})

TASKS: Mapping[str, TaskShape] = MappingProxyType({s.name: s for s in (
    TaskShape(_F + "process_word_document", "Word document → text and stats", {"file_path": FILE},
              {**_DOC_GIVES, "outputs.stats": OBJECT}, ("file_path",),
              {"file_path": "", "operations": ["extract_text", "count_stats"]}),
    TaskShape(_F + "process_pdf", "PDF → text and metadata", {"file_path": FILE}, _DOC_GIVES, ("file_path",),
              {"file_path": "", "operations": ["extract_text"]}),
    TaskShape(_F + "process_powerpoint", "PowerPoint → text and structure", {"file_path": FILE}, _DOC_GIVES,
              ("file_path",), {"file_path": "", "operations": ["extract_text"]}),
    TaskShape(_F + "process_excel_file", "Excel → analysis, CSV, totals", {"file_path": FILE},
              {"file_path": FILE, "outputs.analysis": OBJECT}, ("file_path",), {"file_path": ""}),
    TaskShape(_A + "analyze_document", "AI: summary / key points / sentiment / entities",
              {"text_file": TEXT_FILE, "document_text": TEXT}, _AI_GIVES, ("text_file",),
              {"analysis_type": "summary", "provider": "anthropic"}),
    TaskShape(_A + "translate_text", "AI: translate text", {"text": TEXT}, _AI_GIVES, (),
              {"target_language": "French", "provider": "anthropic"}),
    TaskShape(_A + "generate_content", "AI: write about a topic", {"topic": TEXT}, _AI_GIVES, (),
              {"content_type": "email", "topic": "", "provider": "anthropic"}),
    TaskShape(_A + "claude_completion", "AI: Claude completion", {"prompt": TEXT}, _AI_GIVES, (), {"prompt": ""}),
    TaskShape(_A + "openai_completion", "AI: OpenAI completion", {"prompt": TEXT}, _AI_GIVES, (), {"prompt": ""}),
    TaskShape(_E + "send_email", "E-mail a message", {"body": TEXT, "subject": TEXT},
              {"message_id": ID}, (), {"to_email": "", "subject": "Workflow result"}),
)})


def shape(name: str) -> TaskShape:
    """The step shape of task `name`.

    Raises:
        InvalidInput: `name` is not one of the tasks a workflow step may be (`TASKS`).
    """
    try:
        return TASKS[name]
    except KeyError:
        raise InvalidInput(f"Unknown task {name!r}: a workflow step is one of "
                           f"{', '.join(s.short for s in TASKS.values())}.") from None


def suggest_feed(previous: TaskShape, following: TaskShape) -> dict[str, str]:
    """``{parameter: result path}``: the first parameter of `following` (in its order of
    preference) whose kind one of `previous`'s result values has; ``{}`` when none fits."""
    for param, kind in following.takes.items():
        for path, given in previous.gives.items():
            if given == kind:
                return {param: path}
    return {}


def pick(result: Any, path: str) -> Any:
    """The value at dotted `path` in `result` (a task result dict).

    Raises:
        InvalidInput: the result has no such key ("the previous step's result has no 'outputs.x'").
    """
    value = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InvalidInput(f"The previous step's result has no {path!r}.")
        value = value[part]
    return value
