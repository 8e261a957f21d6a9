"""Plotly charts of the Task Monitor: throughput/failures per minute, runtime p50/p95, queue depth."""
from __future__ import annotations

import time

import pandas as pd
import plotly.express as px
import streamlit as st

from app.store import history, queue_history


def throughput(client, minutes: int = 60) -> None:
    data = history.per_minute(client, ("SUCCESS", "FAILURE", "RETRY"), minutes)
    df = pd.DataFrame(data).melt(id_vars="minute", var_name="state", value_name="tasks")
    fig = px.bar(df, x="minute", y="tasks", color="state", title=f"Finished tasks per minute (last {minutes} min)",
                 color_discrete_map={"SUCCESS": "#2e7d32", "FAILURE": "#c62828", "RETRY": "#f9a825"})
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=40, b=10), bargap=0.1)
    st.plotly_chart(fig, key="chart_throughput")


def runtimes(client) -> None:
    stats = history.runtime_percentiles(client, history.task_names(client))
    if not stats:
        st.caption("No finished tasks yet: runtime percentiles appear here.")
        return
    rows = [{"task": n.rsplit(".", 1)[-1], "quantile": q, "seconds": v[q]}
            for n, v in stats.items() for q in ("p50", "p95") if q in v]
    fig = px.bar(pd.DataFrame(rows), x="task", y="seconds", color="quantile", barmode="group",
                 title="Runtime p50 / p95 per task (histogram buckets)", log_y=True)
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, key="chart_runtime")


def queue_depth(client, queue_names, window_s: int = 3600) -> None:
    """Depth and latency per queue over the last `window_s`, from monitor_queue_sizes' samples."""
    since = time.time() - window_s
    rows = [{"time": pd.to_datetime(ts, unit="s", utc=True), "queue": q, "ready": ready, "latency_s": latency}
            for q in queue_names for ts, ready, latency in queue_history.series(client, q, since=since)]
    if not rows:
        st.caption("Queue depth over time appears once monitor_queue_sizes has run (every minute via beat).")
        return
    df = pd.DataFrame(rows)
    fig = px.line(df, x="time", y="ready", color="queue", title="Queue depth (ready messages)", markers=True)
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, key="chart_depth")
    if df["latency_s"].notna().any():
        fig = px.line(df.dropna(subset=["latency_s"]), x="time", y="latency_s", color="queue",
                      title="Queue latency (age of the oldest waiting message, s)", markers=True)
        fig.update_layout(height=280, margin=dict(l=10, r=10, t=40, b=10))
        st.plotly_chart(fig, key="chart_latency")
