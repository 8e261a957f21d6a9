"""The args-text search tokeniser shared by the writer (word indexes) and the reader (search).

A token is a lower-case run of 3-40 word characters, dots, ``@`` or dashes (leading/trailing dots
and dashes stripped); a task gets at most MAX_WORDS of them, in first-seen order.
"""
from __future__ import annotations

import re

#: Args-text search indexes words of 3-40 characters, at most MAX_WORDS per task.
MAX_WORDS = 24
#: Ids kept per search word (``cc:idx:word:<token>``), newest first: a word found in more tasks than
#: this (``data``, ``docx``…) is listed from its newest WORD_INDEX_MAX tasks only, and checked on a
#: task's own argument text when a rarer filter finds the task (`app.store.history`), so common words
#: cost a fixed amount of memory instead of an index entry per task (the target is ≤ 1 KB per task).
WORD_INDEX_MAX = 50_000
_WORD_RE = re.compile(r"[\w.@-]{3,40}", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-case search tokens of `text` (see module docstring), in first-seen order."""
    out = dict.fromkeys(w.lower().strip(".-") for w in _WORD_RE.findall(text or ""))
    return [w for w in out if len(w) >= 3][:MAX_WORDS]
