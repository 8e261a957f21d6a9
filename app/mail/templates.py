"""Jinja2 templates: the notification types, and operator-written templates for bulk sends.

Notification types live in ``templates/`` as three files each: ``<type>.subject.txt``,
``<type>.txt`` (plain text) and ``<type>.html`` (extends ``base.html``). HTML is autoescaped
(Jinja2 `select_autoescape`), so context values such as ``<script>`` arrive as text. A context key a
template needs but did not get is an error (StrictUndefined), named in the message.

Bulk subjects/bodies are typed by the operator, so they are compiled in Jinja2's
`SandboxedEnvironment` (no attribute access to Python internals), with autoescape on for HTML.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import (Environment, FileSystemLoader, StrictUndefined, TemplateError, UndefinedError, meta,
                    select_autoescape)
from jinja2.sandbox import SandboxedEnvironment

from app.errors import InvalidInput
from app.mail.addresses import check_header

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
#: Notification types; each has .subject.txt, .txt and .html files in TEMPLATE_DIR.
NOTIFICATION_TYPES = ("task_complete", "task_failed", "welcome", "report_ready")
_OPTIONAL_RE = re.compile(r"(\w+) is defined")


@dataclass(frozen=True)
class Rendered:
    """A rendered message: one-line subject, plain text, HTML (None when there is none)."""

    subject: str
    text: str
    html: str | None


@lru_cache(maxsize=1)
def _files() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


@lru_cache(maxsize=2)
def _sandbox(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape)


def _type(notification_type: str) -> str:
    if notification_type not in NOTIFICATION_TYPES:
        raise InvalidInput(f"Unknown notification type {notification_type!r}: use one of "
                           f"{', '.join(NOTIFICATION_TYPES)}.")
    return notification_type


def context_keys(notification_type: str) -> tuple[list[str], list[str]]:
    """(required, optional) context keys of `notification_type`'s templates, each sorted.

    A key is optional when the templates only use it under ``{% if key is defined %}``.

    Raises:
        InvalidInput: unknown type.
    """
    env = _files()
    names: set[str] = set()
    optional: set[str] = set()
    for suffix in (".subject.txt", ".txt", ".html"):
        source = env.loader.get_source(env, _type(notification_type) + suffix)[0]
        names |= meta.find_undeclared_variables(env.parse(source))
        optional |= set(_OPTIONAL_RE.findall(source))
    return sorted(names - optional), sorted(names & optional)


def _subject(text: str) -> str:
    return check_header("Subject", " ".join(text.split()))


def render_notification(notification_type: str, context: dict | None) -> Rendered:
    """Render one notification type with `context`.

    Raises:
        InvalidInput: unknown type, or a context key the template needs is missing.
    """
    env, name, context = _files(), _type(notification_type), dict(context or {})
    try:
        return Rendered(subject=_subject(env.get_template(f"{name}.subject.txt").render(context)),
                        text=env.get_template(f"{name}.txt").render(context),
                        html=env.get_template(f"{name}.html").render(context))
    except UndefinedError as exc:
        raise InvalidInput(f"Notification {name}: {exc}; needed keys: "
                           f"{', '.join(context_keys(name)[0])}.") from None


@dataclass(frozen=True)
class BulkTemplates:
    """Compiled operator templates for a bulk send (subject, text body, optional HTML body)."""

    subject: object
    text: object
    html: object | None

    def render(self, context: dict) -> Rendered:
        """Render for one recipient.

        Raises:
            InvalidInput: a variable the templates use is missing from `context`, or a template
                error at render time.
        """
        try:
            return Rendered(subject=_subject(self.subject.render(context)), text=self.text.render(context),
                            html=self.html.render(context) if self.html is not None else None)
        except UndefinedError as exc:
            raise InvalidInput(f"Template variable missing for {context.get('email', 'a recipient')}: {exc}. "
                               f"Add that column to the CSV or remove it from the template.") from None
        except TemplateError as exc:
            raise InvalidInput(f"Template error: {exc}") from None


def compile_bulk(subject: str, text: str, html: str | None) -> BulkTemplates:
    """Compile bulk templates in the sandbox (text autoescape off, HTML on).

    Raises:
        InvalidInput: a syntax error (with the part and line).
    """
    parts = {}
    for part, source, escape in (("subject", subject, False), ("body", text, False), ("HTML body", html, True)):
        if source is None:
            parts[part] = None
            continue
        try:
            parts[part] = _sandbox(escape).from_string(source)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            raise InvalidInput(f"Template error in the {part}{f' line {line}' if line else ''}: {exc}") from None
    return BulkTemplates(parts["subject"], parts["body"], parts["HTML body"])
