"""Rendering a `Chart`: interactive plotly HTML, or a PNG with matplotlib (Agg) for DOCX/PDF.

Plotly's static image export needs Chrome (kaleido), which workers don't have, so images come
from matplotlib. Values are passed to plotly as plain lists so the chart data stays readable JSON
in the HTML (numpy arrays would be base64-encoded).
"""
from __future__ import annotations

import io

import plotly.graph_objects as go
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from app.reports.document import Chart

IMAGE_DPI = 110
IMAGE_SIZE_IN = (7.0, 3.6)


def plotly_figure(chart: Chart) -> go.Figure:
    """The plotly figure of `chart` (one trace per series)."""
    fig = go.Figure()
    for name, values in chart.series.items():
        x, y = list(chart.x), list(values)
        if chart.kind == "line":
            fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers"))
        else:
            fig.add_trace(go.Bar(x=x, y=y, name=name))
    fig.update_layout(title=chart.title, xaxis_title=chart.x_label, yaxis_title=chart.y_label,
                      height=380, margin=dict(l=50, r=20, t=50, b=60), template="plotly_white",
                      showlegend=len(chart.series) > 1)
    return fig


def plotly_html(chart: Chart, include_js: bool) -> str:
    """An HTML <div> with the chart; `include_js` inlines plotly.js (do it once per page)."""
    return plotly_figure(chart).to_html(full_html=False, include_plotlyjs=bool(include_js),
                                        config={"displaylogo": False})


def png_bytes(chart: Chart) -> bytes:
    """The chart as a PNG image (matplotlib, IMAGE_SIZE_IN at IMAGE_DPI)."""
    fig = Figure(figsize=IMAGE_SIZE_IN, dpi=IMAGE_DPI)  # no pyplot: its global state is not thread-safe
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = list(range(len(chart.x)))
    n = max(len(chart.series), 1)
    width = 0.8 / n
    for i, (name, values) in enumerate(chart.series.items()):
        ys = [float("nan") if v is None else v for v in values]
        if chart.kind == "line":
            ax.plot(positions, ys, marker="o", label=name)
        else:
            ax.bar([p + (i - (n - 1) / 2) * width for p in positions], ys, width=width, label=name)
    step = max(1, len(positions) // 12)
    ax.set_xticks(positions[::step])
    ax.set_xticklabels([str(x)[:18] for x in chart.x][::step], rotation=30, ha="right", fontsize=8)
    ax.set_title(chart.title, fontsize=11)
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    if len(chart.series) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
