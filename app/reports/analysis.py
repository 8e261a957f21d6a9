"""Statistics of a report with pandas: per-column description, group-bys and a time trend.

Report types (`generate_analytics_report(report_type=...)`):

- ``summary``  – overview, numeric statistics, top values of text columns, the group-by (when a
  group-by column is chosen) and the trend (when a date column exists);
- ``detailed`` – the summary plus missing values per column, correlations and the data rows;
- ``trend``    – the time trend (needs a date column) with period-over-period change.

Numbers are pandas' own: `DataFrame.describe` (std with ddof=1, linear-interpolated quartiles),
`groupby(...).agg`, and `Series.dt.to_period` for the trend.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.errors import InvalidInput

REPORT_TYPES = ("summary", "detailed", "trend")
TOP_VALUES = 10
MAX_GROUPS = 50
#: A text column counts as a date column when at least this share of its values parse as dates.
DATE_PARSE_SHARE = 0.8
#: Text parsed as a date outside these years is not taken as a date.
DATE_MIN, DATE_MAX = pd.Timestamp("1900-01-01"), pd.Timestamp("2200-01-01")


@dataclass(frozen=True)
class ReportOptions:
    """What to compute. Column names refer to the data's (tidy) header."""

    report_type: str = "summary"
    group_by: str | None = None
    date_column: str | None = None
    value_columns: tuple[str, ...] = ()
    title: str | None = None


@dataclass
class Analysis:
    """The computed tables of a report (DataFrames) and a JSON-able `summary` dict."""

    title: str
    options: ReportOptions
    data: pd.DataFrame
    value_columns: list[str]
    numeric: pd.DataFrame  # one row per numeric column: count, missing, mean, std, min, 25%, 50%, 75%, max, sum
    categorical: dict[str, pd.DataFrame] = field(default_factory=dict)  # column -> value, count
    groups: pd.DataFrame | None = None  # group value, rows, <col> sum, <col> mean
    trend: pd.DataFrame | None = None  # period, rows, <col> sum (+ change % for trend reports)
    trend_freq: str | None = None
    missing: pd.DataFrame | None = None
    correlation: pd.DataFrame | None = None
    date_column: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def _missing_column(name: str, df: pd.DataFrame, role: str) -> InvalidInput:
    cols = ", ".join(map(str, df.columns[:30]))
    return InvalidInput(f"The {role} column {name!r} is not in the data. Columns are: {cols}.")


def numeric_columns(df: pd.DataFrame) -> list[str]:
    """Columns whose dtype is numeric (bool excluded)."""
    return [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]


def date_columns(df: pd.DataFrame) -> list[str]:
    """Columns that are datetimes, or text where ≥ DATE_PARSE_SHARE of the values parse as dates."""
    out = []
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out.append(c)
        elif (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)) and s.notna().any():
            parsed = _parse_dates(s)
            if parsed.notna().sum() >= DATE_PARSE_SHARE * s.notna().sum():
                out.append(c)
    return out


def _parse_dates(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
    values = s.map(lambda v: v if not isinstance(v, (int, float)) or pd.isna(v) else None)
    parsed = pd.to_datetime(values.astype("string"), errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
    # dateutil reads odd text ("1,5" → year 1) as dates; keep only plausible calendar years.
    return parsed.where((parsed >= DATE_MIN) & (parsed <= DATE_MAX))


def _check_value_columns(df: pd.DataFrame, wanted: tuple[str, ...]) -> list[str]:
    if not wanted:
        return numeric_columns(df)
    for name in wanted:
        if name not in df.columns:
            raise _missing_column(name, df, "value")
        if name not in numeric_columns(df):
            sample = ", ".join(repr(v) for v in df[name].dropna().astype(str).head(3))
            raise InvalidInput(f"The value column {name!r} is not numeric (values like {sample}); "
                               "choose a column of numbers.")
    return list(wanted)


def _freq_for(span: pd.Timedelta) -> tuple[str, str]:
    """Trend period: day up to 92 days, month up to 5 years, else year. Returns (pandas freq, label)."""
    if span <= pd.Timedelta(days=92):
        return "D", "day"
    if span <= pd.Timedelta(days=5 * 366):
        return "M", "month"
    return "Y", "year"


def describe(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """count, missing, mean, std, min, 25%, 50%, 75%, max, sum per column (rows = columns)."""
    if not cols:
        return pd.DataFrame(columns=["column", "count", "missing", "mean", "std", "min", "25%", "50%",
                                     "75%", "max", "sum"])
    d = df[cols].describe().T
    d.insert(1, "missing", df[cols].isna().sum())
    d["sum"] = df[cols].sum()
    d["count"] = d["count"].astype(int)
    d = d.reset_index(names="column")
    return d[["column", "count", "missing", "mean", "std", "min", "25%", "50%", "75%", "max", "sum"]]


def group_table(df: pd.DataFrame, by: str, cols: list[str]) -> pd.DataFrame:
    """Rows, sum and mean of each value column per value of `by` (largest groups first, ≤ MAX_GROUPS)."""
    keys = df[by].astype("string").fillna("(blank)")
    g = df.assign(**{by: keys}).groupby(by, sort=False)
    out = g.size().rename("rows").to_frame()
    for c in cols:
        out[f"{c} sum"] = g[c].sum()
        out[f"{c} mean"] = g[c].mean()
    out = out.sort_values(["rows"], ascending=False, kind="stable").head(MAX_GROUPS)
    return out.reset_index()


def trend_table(df: pd.DataFrame, date_col: str, cols: list[str], with_change: bool) -> tuple[pd.DataFrame, str]:
    """Rows and sums per period of `date_col` (day / month / year chosen by the span)."""
    dates = _parse_dates(df[date_col])
    valid = dates.notna()
    if not valid.any():
        raise InvalidInput(f"The date column {date_col!r} has no values that read as dates.")
    freq, label = _freq_for(dates[valid].max() - dates[valid].min())
    periods = dates[valid].dt.to_period(freq)
    sub = df.loc[valid, cols].assign(_period=periods.values)
    g = sub.groupby("_period", sort=True)
    out = g.size().rename("rows").to_frame()
    for c in cols:
        out[f"{c} sum"] = g[c].sum()
    if with_change:
        for c in cols:
            out[f"{c} change %"] = out[f"{c} sum"].pct_change() * 100
    out.index = out.index.astype(str)
    return out.reset_index(names=label), label


def analyse(df: pd.DataFrame, options: ReportOptions) -> Analysis:
    """Compute every table `options.report_type` needs.

    Raises:
        InvalidInput: unknown report type; a group-by, date or value column that is missing; a
            value column that is not numeric; a trend report without a date column.
    """
    if options.report_type not in REPORT_TYPES:
        raise InvalidInput(f"Unknown report type {options.report_type!r}; use one of {', '.join(REPORT_TYPES)}.")
    if df.empty:
        raise InvalidInput("The data is empty: there is nothing to report on.")
    if options.group_by and options.group_by not in df.columns:
        raise _missing_column(options.group_by, df, "group-by")
    if options.date_column and options.date_column not in df.columns:
        raise _missing_column(options.date_column, df, "date")
    values = _check_value_columns(df, options.value_columns)
    date_col = options.date_column
    if date_col is None:
        found = [c for c in date_columns(df) if c != options.group_by]
        date_col = found[0] if found else None
    if options.report_type == "trend" and date_col is None:
        raise InvalidInput("A trend report needs a date column, and none was found; choose the date "
                           "column or use a summary report.")
    if options.report_type == "trend" and not values:
        values = []
    kind = options.report_type
    title = options.title or f"{kind.title()} report"
    a = Analysis(title=title, options=options, data=df, value_columns=values,
                 numeric=describe(df, values), date_column=date_col)
    text_cols = [c for c in df.columns if c not in values and c != date_col
                 and not pd.api.types.is_numeric_dtype(df[c])]
    if kind != "trend":
        for c in text_cols[:5]:
            counts = df[c].astype("string").fillna("(blank)").value_counts().head(TOP_VALUES)
            a.categorical[c] = counts.rename_axis("value").reset_index(name="count")
    if options.group_by:
        a.groups = group_table(df, options.group_by, values)
    if date_col is not None:
        a.trend, a.trend_freq = trend_table(df, date_col, values, with_change=kind == "trend")
    if kind == "detailed":
        a.missing = pd.DataFrame({"column": df.columns, "missing": df.isna().sum().values,
                                  "filled": df.notna().sum().values})
        if len(values) >= 2:
            a.correlation = df[values].corr().reset_index(names="column")
    a.summary = {
        "report_type": kind, "title": title, "rows": int(len(df)), "columns": int(df.shape[1]),
        "numeric_columns": values, "group_by": options.group_by, "date_column": date_col,
        "totals": {c: _py(df[c].sum()) for c in values},
        "means": {c: _py(df[c].mean()) for c in values},
        "groups": int(len(a.groups)) if a.groups is not None else None,
        "periods": int(len(a.trend)) if a.trend is not None else None,
        "trend_period": a.trend_freq,
    }
    return a


def _py(v: Any) -> Any:
    """A JSON-able Python scalar (NaN → None)."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and v != v else v
