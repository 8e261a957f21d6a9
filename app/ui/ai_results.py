"""Widgets of the AI page: a live task panel that shows streamed text, and result views.

Model output is shown as plain text (`st.code` with no language, `st.text`, data frames), never
as Markdown or HTML: a document can steer a model into writing links or images.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui.task_status import task_panel


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
                   help="From the price table in app/llm/prices.py; unknown for unpriced models")
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


def ai_task_panel(task_id: str, title: str) -> None:
    """One AI task: live state and streamed text (refreshing until it ends), then the result."""
    task_panel(task_id, title, render_result)
