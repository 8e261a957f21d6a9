"""Rendering of email task results and of a scheduled send's "when / cancel" line."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from app.ui.text import plain
from celery.result import AsyncResult

from app.errors import ConsoleError
from app.ui import access
from app.ui.access import can
from app.ui.resources import celery

_COUNTS = ("sent", "already_sent", "refused", "deferred", "invalid")


def render_result(result: dict) -> None:
    """Show a send_email / send_notification / send_scheduled_email / send_bulk_emails result."""
    result = result or {}
    if "results" in result:
        cols = st.columns(len(_COUNTS) + 1)
        cols[0].metric("total", result.get("total", 0))
        for col, key in zip(cols[1:], _COUNTS):
            col.metric(key.replace("_", " "), result.get(key, 0))
        st.dataframe(pd.DataFrame(result["results"]), hide_index=True, width="stretch")
        return
    st.markdown(f"**{result.get('status', '')}** · Message-ID `{result.get('message_id', '')}` · "
                f"{result.get('size_bytes') or '?'} bytes · via {result.get('smtp', '')}")
    st.caption("Accepted: " + (", ".join(result.get("accepted") or []) or "none"))
    for address, reason in (result.get("refused") or {}).items():
        st.warning(f"Refused {plain(address)}: {plain(reason)}")


def scheduled_line(job: dict) -> None:
    """'Scheduled for … UTC (in 4 min)' with a Cancel button while the task has not run."""
    send_at = job["send_at"]
    when = datetime.fromtimestamp(send_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    left_s = send_at - time.time()
    if job.get("cancelled"):
        st.info(f"Cancelled (was scheduled for {when} UTC).")
        return
    state = AsyncResult(job["id"], app=celery()).state
    if state not in ("PENDING", "RECEIVED", "RETRY"):
        st.caption(f"Scheduled for {when} UTC.")
        return
    c1, c2 = st.columns([4, 1])
    c1.info(f"Scheduled for {when} UTC" + (f" (in {left_s / 60:.0f} min)" if left_s > 0 else " (due now)"))
    if can("email_cancel") and c2.button("Cancel", key=f"cancel:{job['id']}"):
        from app.tasks.email_tasks import cancel_scheduled

        try:
            access.run("email_cancel", job["id"], lambda: cancel_scheduled(job["id"]))
        except (ConsoleError, OSError) as exc:
            st.error(f"Could not cancel: {exc}")
            return
        job["cancelled"] = True
        st.rerun()
