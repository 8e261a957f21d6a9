"""Plotly charts of the Task Monitor: throughput/failures per minute, runtime p50/p95, queue depth.

The figures are plain plotly specs (``{"data": [...], "layout": {...}}``) built straight from the
Redis reads: plotly express took about 100 ms of CPU per chart (data frame reshaping and trace
validation), on every 2 s refresh of the overview; a spec takes a few ms and renders the same.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import streamlit as st

from app.store import history, queue_history

LAYOUT = {"height": 280, "margin": {"l": 10, "r": 10, "t": 40, "b": 10}}
STATE_COLORS = {"SUCCESS": "#2e7d32", "FAILURE": "#c62828", "RETRY": "#f9a825"}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def throughput(client, minutes: int = 60) -> None:
    data = history.per_minute(client, tuple(STATE_COLORS), minutes)
    x = [m.isoformat() for m in data["minute"]]
    traces = [{"type": "bar", "name": state, "x": x, "y": data[state], "marker": {"color": color}}
              for state, color in STATE_COLORS.items()]
    st.plotly_chart({"data": traces, "layout": {
        **LAYOUT, "barmode": "stack", "bargap": 0.1, "title": {"text": f"Finished tasks per minute (last {minutes} min)"},
        "xaxis": {"title": {"text": "minute"}}, "yaxis": {"title": {"text": "tasks"}},
        "legend": {"title": {"text": "state"}}}}, key="chart_throughput")


def runtimes(client) -> None:
    stats = history.runtime_percentiles(client, history.task_names(client))
    if not stats:
        st.caption("No finished tasks yet: runtime percentiles appear here.")
        return
    names = list(stats)
    traces = [{"type": "bar", "name": q, "x": [n.rsplit(".", 1)[-1] for n in names if q in stats[n]],
               "y": [stats[n][q] for n in names if q in stats[n]]} for q in ("p50", "p95")]
    st.plotly_chart({"data": traces, "layout": {
        **LAYOUT, "barmode": "group", "title": {"text": "Runtime p50 / p95 per task (histogram buckets)"},
        "xaxis": {"title": {"text": "task"}}, "yaxis": {"title": {"text": "seconds"}, "type": "log"},
        "legend": {"title": {"text": "quantile"}}}}, key="chart_runtime")


def queue_depth(client, queue_names, window_s: int = 3600) -> None:
    """Depth and latency per queue over the last `window_s`, from monitor_queue_sizes' samples."""
    since = time.time() - window_s
    series = {q: queue_history.series(client, q, since=since) for q in queue_names}
    if not any(series.values()):
        st.caption("Queue depth over time appears once monitor_queue_sizes has run (every minute via beat).")
        return
    depth = [{"type": "scatter", "mode": "lines+markers", "name": q, "x": [_iso(ts) for ts, _, _ in points],
              "y": [ready for _, ready, _ in points]} for q, points in series.items() if points]
    st.plotly_chart({"data": depth, "layout": {
        **LAYOUT, "title": {"text": "Queue depth (ready messages)"}, "yaxis": {"title": {"text": "ready"}},
        "legend": {"title": {"text": "queue"}}}}, key="chart_depth")
    latency = [{"type": "scatter", "mode": "lines+markers", "name": q,
                "x": [_iso(ts) for ts, _, lat in points if lat is not None],
                "y": [lat for _, _, lat in points if lat is not None]}
               for q, points in series.items() if any(lat is not None for _, _, lat in points)]
    if latency:
        st.plotly_chart({"data": latency, "layout": {
            **LAYOUT, "title": {"text": "Queue latency (age of the oldest waiting message, s)"},
            "yaxis": {"title": {"text": "latency_s"}}, "legend": {"title": {"text": "queue"}}}},
            key="chart_latency")
