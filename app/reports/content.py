"""An `Analysis` (analytics report) as a `ReportDocument`: sections, tables and chart data."""
from __future__ import annotations

import numpy as np
import pandas as pd

from app.reports.analysis import Analysis
from app.reports.document import Chart, ReportDocument, Section, Table

MAX_HISTOGRAMS = 6
HISTOGRAM_BINS_MAX = 20


def histogram(values: pd.Series, name: str) -> Chart | None:
    """A bar chart of `values`' distribution (numpy 'auto' bins, at most HISTOGRAM_BINS_MAX)."""
    v = values.dropna().to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    edges = np.histogram_bin_edges(v, bins="auto")
    if len(edges) - 1 > HISTOGRAM_BINS_MAX:
        edges = np.histogram_bin_edges(v, bins=HISTOGRAM_BINS_MAX)
    counts, edges = np.histogram(v, bins=edges)
    labels = [f"{edges[i]:.4g} – {edges[i + 1]:.4g}" for i in range(len(counts))]
    return Chart(f"Distribution of {name}", "bar", labels, {"rows": [int(c) for c in counts]},
                 x_label=name, y_label="rows")


def _series(frame: pd.DataFrame, col: str) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in frame[col]]


def group_chart(a: Analysis) -> Chart:
    g = a.groups
    by = a.options.group_by
    if a.value_columns:
        col = a.value_columns[0]
        return Chart(f"{col} by {by} (sum)", "bar", [str(x) for x in g[by]], {f"{col} sum": _series(g, f"{col} sum")},
                     x_label=by, y_label=col)
    return Chart(f"Rows by {by}", "bar", [str(x) for x in g[by]], {"rows": [int(x) for x in g["rows"]]},
                 x_label=by, y_label="rows")


def trend_chart(a: Analysis) -> Chart:
    t = a.trend
    period = t.columns[0]
    series = {f"{c} sum": _series(t, f"{c} sum") for c in a.value_columns[:4]} or \
        {"rows": [int(x) for x in t["rows"]]}
    return Chart(f"Trend per {period} ({a.date_column})", "line", [str(x) for x in t[period]], series,
                 x_label=period, y_label="sum" if a.value_columns else "rows")


def analytics_document(a: Analysis, table_rows_max: int, executive: Section | None = None) -> ReportDocument:
    """The report for `a`; `executive` (an AI summary section) goes first when given."""
    s = a.summary
    kind = a.options.report_type
    overview = Section("Overview", paragraphs=[
        f"{s['rows']} rows and {s['columns']} columns.",
        f"Numeric columns: {', '.join(a.value_columns) or 'none'}.",
        f"Group-by column: {a.options.group_by or 'none'}. Date column: {a.date_column or 'none'}.",
    ])
    sections = [executive] if executive else []
    sections.append(overview)
    if kind != "trend" and a.value_columns:
        charts = [c for c in (histogram(a.data[col], col) for col in a.value_columns[:MAX_HISTOGRAMS]) if c]
        sections.append(Section("Numeric columns", tables=[Table("Descriptive statistics", a.numeric)],
                                charts=charts))
    if a.categorical:
        sections.append(Section("Text columns: most frequent values",
                                tables=[Table(c, f) for c, f in a.categorical.items()]))
    if a.groups is not None:
        sections.append(Section(f"By {a.options.group_by}", tables=[Table(f"Per {a.options.group_by}", a.groups)],
                                charts=[group_chart(a)]))
    if a.trend is not None:
        sections.append(Section(f"Trend per {a.trend_freq}", tables=[Table(f"Per {a.trend_freq}", a.trend)],
                                charts=[trend_chart(a)]))
    elif kind == "summary" and not a.date_column:
        overview.paragraphs.append("No date column was found, so there is no trend section.")
    if kind == "detailed":
        if a.missing is not None:
            sections.append(Section("Missing values", tables=[Table("Per column", a.missing)]))
        if a.correlation is not None:
            sections.append(Section("Correlation (Pearson)", tables=[Table("Correlation", a.correlation)]))
        shown = min(len(a.data), table_rows_max)
        note = f"The first {shown} of {len(a.data)} rows." + (" All rows are in the XLSX data sheet."
                                                              if shown < len(a.data) else "")
        sections.append(Section("Data", paragraphs=[note], tables=[Table("Rows", a.data.head(shown))]))
    subtitle = f"{kind.title()} report · {s['rows']} rows"
    return ReportDocument(a.title, subtitle, sections, summary=s, data=a.data,
                          data_rows_shown=min(len(a.data), table_rows_max) if kind == "detailed" else 0)
