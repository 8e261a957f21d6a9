"""Widgets of the AI page: a live task panel that shows streamed text, and result views.

Model output is shown as plain text (`st.code` with no language, `st.text`, data frames), never
as Markdown or HTML: a document can steer a model into writing links or images.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st
from celery.result import AsyncResult

from app.ui.resources import celery
from app.ui.task_status import POLL_S, READY, failure_message

_ICONS = {"PENDING": "⏳", "STARTED": "⚙️", "PROGRESS": "✍️", "RETRY": "🔁", "SUCCESS": "✅",
          "FAILURE": "❌", "REVOKED": "🛑"}


def cost_text(cost_usd) -> str:
    """'$0.000123' or 'unknown' (model not in the price table)."""
    return "unknown" if cost_usd is None else f"${cost_usd:.6f}"


def usage_metrics(result: dict) -> None:
    """Tokens, cost, latency, attempts and model of a completion-shaped result."""
    usage = result.get("usage") or {}
    cols = st.columns(5)
    cols[0].metric("Input tokens", usage.get("input_tokens") if usage.get("input_tokens") is not None else "?")
    cols[1].metric("Output tokens", usage.get("output_tokens") if usage.get("output_tokens") is not None else "?")
    cols[2].metric("Cost (USD)", cost_text(result.get("cost_usd")),
                   help="From the price table in app/services/llm/prices.py; unknown for unpriced models")
    cols[3].metric("Latency (ms)", result.get("latency_ms", 0))
    cols[4].metric("HTTP attempts", result.get("attempts", 0))
    st.caption(f"{result.get('provider')} · {result.get('model')} · request id {result.get('request_id') or '—'}")


def render_result(result: dict) -> None:
    """A completion, analysis, generation or translation result: text, structure, tokens and cost."""
    if not isinstance(result, dict):
        st.text(str(result))
        return
    if "summary" in result and "results" in result:
        render_batch(result)
        return
    st.code(result.get("content") or "", language=None, wrap_lines=True)
    if result.get("sentiment"):
        s = result["sentiment"]
        st.metric("Sentiment", s["label"], f"{s['score']:+.2f}")
    if result.get("entities"):
        st.dataframe(pd.DataFrame(result["entities"]), hide_index=True)
    if result.get("parts", 1) > 1:
        st.caption(f"Document analysed in {result['parts']} parts.")
    usage_metrics(result)


def render_batch(result: dict) -> None:
    """A batch: summary metrics and one row per request."""
    s = result["summary"]
    cols = st.columns(5)
    cols[0].metric("Requests", s["total"])
    cols[1].metric("Succeeded", s["succeeded"])
    cols[2].metric("Failed", s["failed"])
    cols[3].metric("Tokens in / out", f"{s['input_tokens']} / {s['output_tokens']}")
    cols[4].metric("Cost (USD)", cost_text(s["cost_usd"]) + ("" if s["cost_complete"] else " + unknown"))
    rows = []
    for item in result["results"]:
        r = item.get("result") or {}
        rows.append({"#": item["index"] + 1, "status": item["status"], "model": r.get("model"),
                     "tokens in": (r.get("usage") or {}).get("input_tokens"),
                     "tokens out": (r.get("usage") or {}).get("output_tokens"),
                     "cost (USD)": r.get("cost_usd"), "answer or error": (r.get("content") or item.get("error") or "")[:500]})
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def _draw(task_id: str, title: str, show_result: bool) -> str:
    res = AsyncResult(task_id, app=celery())
    state = res.state
    st.markdown(f"**{title}** · `{task_id}` · {_ICONS.get(state, '•')} {state}")
    info = res.info if isinstance(res.info, dict) else {}
    if state == "PROGRESS":
        st.progress(min(max(int(info.get("percent", 0)), 0), 100), text=str(info.get("message", "")))
        if info.get("partial_text"):
            st.code(info["partial_text"], language=None, wrap_lines=True)
    elif state in ("PENDING", "RECEIVED", "STARTED"):
        st.progress(0, text="waiting for a worker on ai_queue" if state == "PENDING" else state.lower())
    elif state == "RETRY":
        st.warning(f"Retrying: {res.info}")
    elif state == "FAILURE":
        st.error(failure_message(res))
    elif state == "REVOKED":
        st.warning("The task was revoked before it finished.")
    elif state == "SUCCESS" and show_result:
        render_result(res.result)
    return state


def ai_task_panel(task_id: str, title: str) -> None:
    """One AI task: live state and streamed text (refreshing every POLL_S), then the result."""
    done_key = f"task_done:{task_id}"
    if st.session_state.get(done_key):
        _draw(task_id, title, True)
        return

    @st.fragment(run_every=POLL_S)
    def _live():
        if _draw(task_id, title, False) in READY:
            st.session_state[done_key] = True
            st.rerun(scope="app")

    _live()
