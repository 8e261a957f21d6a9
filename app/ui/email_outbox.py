"""The Outbox view: messages the dev mail sink stored under DATA_DIR/outbox, and one opened.

HTML bodies are shown as escaped source, and on request rendered inside an ``<iframe sandbox>``
(no scripts, no same-origin access, no forms) with a Content-Security-Policy that blocks remote
loads — never with unsafe_allow_html.
"""
from __future__ import annotations

import html as html_lib
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from app.ui.text import plain
import streamlit.components.v1 as components

from app.errors import InvalidInput
from app.files import storage
from app.mail import outbox, sink
from app.ui.resources import settings

LIST_LIMIT = 200
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def sandboxed_html(body: str) -> str:
    """A wrapper page holding `body` in a fully sandboxed iframe (srcdoc, attribute-escaped)."""
    doc = f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">' + body
    return (f'<iframe sandbox="" referrerpolicy="no-referrer" srcdoc="{html_lib.escape(doc, quote=True)}" '
            f'style="width:100%;height:460px;border:1px solid #ddd;background:#fff"></iframe>')


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def outbox_view() -> None:
    s = settings()
    folder = s.DATA_DIR / "outbox"
    if s.SMTP_HOST:
        st.info(f"SMTP_HOST is set ({s.SMTP_HOST}): mail goes to that server. The Outbox only shows what "
                f"the dev sink received earlier.")
    elif not sink.is_listening(s.SMTP_SINK_HOST, s.SMTP_SINK_PORT):
        st.warning(f"The dev mail sink is not running on {s.SMTP_SINK_HOST}:{s.SMTP_SINK_PORT}: email tasks "
                   f"will retry and fail. Start it with `python -m app.mail.sink` (or `make run`).")
    entries = outbox.list_messages(folder, LIST_LIMIT)
    total = outbox.count(folder)
    st.caption(f"{total} message(s) in {folder}" + (f"; newest {LIST_LIMIT} shown" if total > LIST_LIMIT else ""))
    st.button("Refresh", key="outbox_refresh")
    if not entries:
        st.info("The Outbox is empty.")
        return
    st.dataframe(pd.DataFrame([{"received (UTC)": _when(e.received_at), "from": e.mail_from,
                                "to": ", ".join(e.rcpt_tos), "subject": e.subject, "size (bytes)": e.size_bytes}
                               for e in entries]), hide_index=True, width="stretch")
    labels = {e.name: f"{_when(e.received_at)} · {e.subject[:60]} · {', '.join(e.rcpt_tos)[:60]}" for e in entries}
    name = st.selectbox("Open message", list(labels), format_func=labels.get, key="outbox_open")
    if name:
        _message(folder, name)


def _message(folder, name: str) -> None:
    try:
        msg = outbox.read_message(folder, name)
    except InvalidInput as exc:
        st.error(str(exc))
        return
    e = msg.entry
    st.markdown(f"**Subject:** {plain(e.subject) if e.subject else '(none)'}")
    st.caption(f"Envelope from {e.mail_from} to {', '.join(e.rcpt_tos)} · {e.size_bytes} bytes")
    with st.expander("Headers"):
        st.code("\n".join(f"{k}: {v}" for k, v in msg.headers), language=None)
    if msg.text is not None:
        st.text_area("Text", msg.text, height=200, disabled=True, key=f"outbox_text:{name}")
    if msg.html is not None:
        st.code(msg.html, language="html")
        if st.toggle("Preview HTML (sandboxed)", key=f"outbox_preview:{name}"):
            components.html(sandboxed_html(msg.html), height=480)
    for i, att in enumerate(msg.attachments):
        st.download_button(f"Download {storage.display_name(att.filename)} ({att.content_type}, {len(att.data)} bytes)",
                           data=att.data, file_name=storage.display_name(att.filename), mime=att.content_type,
                           key=f"outbox_att:{name}:{i}")
