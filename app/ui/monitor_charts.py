"""Plotly charts of the Task Monitor: throughput/failures per minute, runtime p50/p95, queue depth.

The figures are plain plotly specs (``{"data": [...], "layout": {...}}``) built straight from the
Redis reads: plotly express took about 100 ms of CPU per chart (data frame reshaping and trace
validation), on every 2 s refresh of the overview; a spec takes a few ms and renders the same.
"""
from __future__ import annotations

from types import MappingProxyType
import time
from datetime import datetime, timezone

import streamlit as st

from app.store import history, queue_history

LAYOUT = MappingProxyType({"height": 280, "margin": {"l": 10, "r": 10, "t": 40, "b": 10}})
STATE_COLORS = MappingProxyType({"SUCCESS": "#2e7d32", "FAILURE": "#c62828", "RETRY": "#f9a825"})
#: Runtime chart: pixels per task row (two bars) and the height around them (title, axis, legend).
ROW_PX, FRAME_PX, MIN_HEIGHT_PX = 34, 110, 240


def _iso(ts: float) -> str:
    """Epoch seconds as a UTC wall-clock string (plotly.js reads dates without a zone as they are)."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def time_axis(since: float, until: float) -> dict:
    """A UTC clock-time x axis over [since, until] (epoch s): hours and minutes, never milliseconds,
    also when the data is one point."""
    return {"type": "date", "range": [_iso(since), _iso(until)], "tickformat": "%H:%M",
            "hoverformat": "%Y-%m-%d %H:%M:%S", "title": {"text": "time (UTC)"}}


def count_axis(values, title: str) -> dict:
    """A y axis from 0 for counts: whole numbers, at least 0..1 (an all-zero series does not become -1..1)."""
    top = max([v for v in values if v is not None] or [0])
    return {"title": {"text": title}, "rangemode": "tozero", "range": [0, max(1, top * 1.1)], "tickformat": ",d"}


def runtime_height(n_tasks: int) -> int:
    """Height (px) of the runtime chart for `n_tasks` rows: every task name gets its own readable row."""
    return max(MIN_HEIGHT_PX, FRAME_PX + ROW_PX * n_tasks)


def throughput(client, minutes: int = 60) -> None:
    data = history.per_minute(client, tuple(STATE_COLORS), minutes)
    x = [m.strftime("%Y-%m-%d %H:%M:%S") for m in data["minute"]]
    traces = [{"type": "bar", "name": state, "x": x, "y": data[state], "marker": {"color": color}}
              for state, color in STATE_COLORS.items()]
    totals = [sum(v or 0 for v in column) for column in zip(*(data[state] for state in STATE_COLORS))]
    now = time.time()
    st.plotly_chart({"data": traces, "layout": {
        **LAYOUT, "barmode": "stack", "bargap": 0.1, "title": {"text": f"Finished tasks per minute (last {minutes} min)"},
        "xaxis": time_axis(now - minutes * 60, now), "yaxis": count_axis(totals, "tasks"),
        "legend": {"title": {"text": "state"}}}}, key="chart_throughput")


def runtimes(client) -> None:
    stats = history.runtime_percentiles(client, history.task_names(client))
    if not stats:
        st.caption("No finished tasks yet: runtime percentiles appear here.")
        return
    names = sorted(stats, key=lambda n: n.rsplit(".", 1)[-1])  # the same order on every refresh
    traces = [{"type": "bar", "orientation": "h", "name": q,
               "y": [n.rsplit(".", 1)[-1] for n in names if q in stats[n]],
               "x": [stats[n][q] for n in names if q in stats[n]],
               "hovertemplate": "%{y}: %{x:.3g} s<extra>" + q + "</extra>"} for q in ("p50", "p95")]
    st.plotly_chart({"data": traces, "layout": {
        **LAYOUT, "height": runtime_height(len(names)), "barmode": "group",
        "title": {"text": "Runtime p50 / p95 per task (histogram buckets)"},
        "yaxis": {"automargin": True, "autorange": "reversed"}, "xaxis": {"title": {"text": "seconds"}, "type": "log"},
        "legend": {"title": {"text": "quantile"}, "orientation": "h", "y": -0.25}}}, key="chart_runtime")


def queue_depth(client, queue_names, window_s: int = 3600) -> None:
    """Depth and latency per queue over the last `window_s`, from monitor_queue_sizes' samples."""
    since = time.time() - window_s
    series = {q: queue_history.series(client, q, since=since) for q in queue_names}
    if not any(series.values()):
        st.caption("Queue depth over time appears once monitor_queue_sizes has run (every minute via beat).")
        return
    depth = [{"type": "scatter", "mode": "lines+markers", "name": q, "x": [_iso(ts) for ts, _, _ in points],
              "y": [ready for _, ready, _ in points]} for q, points in series.items() if points]
    now = time.time()
    st.plotly_chart({"data": depth, "layout": {
        **LAYOUT, "title": {"text": "Queue depth (ready messages)"}, "xaxis": time_axis(since, now),
        "yaxis": count_axis([v for t in depth for v in t["y"]], "ready messages"),
        "legend": {"title": {"text": "queue"}}}}, key="chart_depth")
    latency = [{"type": "scatter", "mode": "lines+markers", "name": q,
                "x": [_iso(ts) for ts, _, lat in points if lat is not None],
                "y": [lat for _, _, lat in points if lat is not None]}
               for q, points in series.items() if any(lat is not None for _, _, lat in points)]
    if latency:
        st.plotly_chart({"data": latency, "layout": {
            **LAYOUT, "title": {"text": "Queue latency (age of the oldest waiting message)"},
            "xaxis": time_axis(since, now), "yaxis": {"title": {"text": "seconds"}, "rangemode": "tozero"},
            "legend": {"title": {"text": "queue"}}}},
            key="chart_latency")
