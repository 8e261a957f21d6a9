"""Queue pause/resume and peek on the Task Monitor's "Workers & queues" tab."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui.text import plain

from app.monitor import actions, queue_control
from app.ui import app_selector, confirm
from app.ui.access import can
from app.ui.monitor_widgets import ago
from app.ui.resources import redis_client


def panel(queue_names) -> None:
    """Paused queues, pause/resume (confirmed, audited) and a peek at the next waiting messages."""
    app, client, who, name = app_selector.monitored_apps(), redis_client(), confirm.who(), app_selector.current()
    paused = queue_control.paused(client, name or "console")
    st.subheader("Pause, resume and peek")
    if paused:
        st.warning("Paused: " + ", ".join(f"{q} (by {p.get('who', '?')}, {ago(p.get('at'))})" for q, p in paused.items())
                   + ". Workers do not consume a paused queue, including workers that start later.",
                   icon=":material/pause_circle:")
    c = st.columns([2, 1, 1, 1, 1], vertical_alignment="bottom")
    queue = c[0].selectbox("Queue", list(queue_names), key="qc_queue")
    admin = can("queue_pause")
    if admin and c[1].button("Pause…", key="qc_pause", disabled=queue in paused):
        confirm.ask(f"Pause {queue} on every worker (messages stay queued)",
                    lambda: actions.pause_queue(app, client, queue, who, queue_names, name))
    if admin and c[2].button("Resume…", key="qc_resume", disabled=queue not in paused):
        confirm.ask(f"Resume {queue}", lambda: actions.resume_queue(app, client, queue, who, name))
    n = c[3].number_input("Peek N", min_value=1, max_value=queue_control.PEEK_MAX, value=20, key="qc_n")
    if c[4].button("Peek", key="qc_peek"):
        st.session_state["qc_peeked"] = (queue, queue_control.peek(app_selector.broker(), queue, int(n)))
    peeked = st.session_state.get("qc_peeked")
    if peeked:
        name, rows = peeked
        st.caption(f"Next {len(rows)} message(s) of {plain(name)}, in the order a worker takes them (not consumed; "
                   f"secrets in arguments redacted)")
        st.dataframe(pd.DataFrame(rows, columns=["id", "task", "age_s", "priority", "eta", "args", "kwargs"]),
                     hide_index=True, width="stretch")
