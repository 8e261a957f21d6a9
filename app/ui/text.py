"""Untrusted text (file names, e-mail subjects, task results and errors, user names) shown inside
Streamlit's Markdown elements (st.markdown, st.caption, st.error, ...) as the characters it holds.

Streamlit renders those strings as Markdown, with its own extensions (``:red[...]`` colours,
``:material/icon:``, ``$...$`` LaTeX); `plain` backslash-escapes the characters that start links and
images, directives, code, emphasis with ``*``, strikethrough, tables, HTML and LaTeX, so "**urgent**
[click](http://x)" shows as typed, not bold with a link. Underscores are left alone: inside a word
(file names) they are not emphasis in CommonMark, and escaping them would change what is copied.
"""
from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*\[\]<>~$|])")


def plain(text: object) -> str:
    """`text` with Markdown (and Streamlit directive / LaTeX) characters escaped; newlines kept."""
    return _SPECIAL.sub(r"\\\1", str(text if text is not None else ""))
