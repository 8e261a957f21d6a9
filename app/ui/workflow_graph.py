"""The workflow graph of a task (chain / group / chord) drawn with plotly; click a node for its detail."""
from __future__ import annotations

from types import MappingProxyType
import plotly.graph_objects as go
import streamlit as st

from app.monitor import workflow

STATE_COLOURS = MappingProxyType({"SUCCESS": "#2e7d32", "FAILURE": "#c62828", "REVOKED": "#6d4c41", "RETRY": "#ef6c00",
                 "STARTED": "#1565c0", "PROGRESS": "#1565c0", "RECEIVED": "#7e57c2", "SENT": "#9e9e9e"})


def figure(wf: workflow.Workflow, selected: str | None = None) -> go.Figure:
    """Layered left-to-right drawing: x = depth from the root, nodes of one depth stacked."""
    depth = wf.depths()
    layers: dict[int, list[str]] = {}
    for n in sorted(wf.nodes, key=lambda n: (wf.nodes[n].get("sent_at") or "", n)):
        layers.setdefault(depth.get(n, 0), []).append(n)
    pos = {n: (d, i - (len(ns) - 1) / 2) for d, ns in layers.items() for i, n in enumerate(ns)}
    ex, ey = [], []
    for a, b in wf.edges:
        if a in pos and b in pos:
            ex += [pos[a][0], pos[b][0], None]
            ey += [pos[a][1], pos[b][1], None]
    ids = list(pos)
    nodes = [wf.nodes[n] for n in ids]
    labels = [f"{(t.get('name') or '?').rsplit('.', 1)[-1]}" for t in nodes]
    hover = [f"{t.get('name') or 'not in history'}<br>{t.get('state') or '?'}"
             f"{'<br>runtime ' + format(float(t['runtime_s']), '.3f') + ' s' if t.get('runtime_s') else ''}"
             f"<br>{n}" for n, t in zip(ids, nodes)]
    colours = [STATE_COLOURS.get(t.get("state") or "", "#bdbdbd") for t in nodes]
    sizes = [26 if n == selected else 18 for n in ids]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line={"color": "#90a4ae", "width": 1.5},
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=[pos[n][0] for n in ids], y=[pos[n][1] for n in ids], mode="markers+text",
                             marker={"size": sizes, "color": colours, "line": {"width": 1, "color": "#263238"}},
                             text=labels, textposition="top center", hovertext=hover, hoverinfo="text",
                             customdata=ids, showlegend=False))
    fig.update_layout(height=max(260, 60 * max((len(v) for v in layers.values()), default=1)),
                      margin={"l": 10, "r": 10, "t": 10, "b": 10}, clickmode="event+select",
                      xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def show(client, task_id: str, select_key: str) -> None:
    """Draw the workflow of `task_id` when it has more than one task; a click on a node stores its
    id in ``st.session_state[select_key]`` and reruns (the detail below follows it)."""
    wf = workflow.build(client, task_id)
    if wf is None or len(wf.nodes) < 2:
        return
    counts: dict[str, int] = {}
    for t in wf.nodes.values():
        counts[t.get("state") or "?"] = counts.get(t.get("state") or "?", 0) + 1
    st.caption(f"Workflow: {len(wf.nodes)} tasks ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})"
               + (" — truncated" if wf.truncated else "") + " · click a node for its detail")
    event = st.plotly_chart(figure(wf, task_id), key=f"wf:{task_id}", on_select="rerun",
                            selection_mode="points", config={"displayModeBar": False})
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        picked = p.get("customdata")
        if isinstance(picked, list):
            picked = picked[0] if picked else None
        if picked and picked != task_id and picked in wf.nodes:
            st.session_state[select_key] = picked
            st.rerun()
