"""Rows of a table as a pyarrow Table, for ``st.dataframe`` without pandas.

``st.dataframe`` serializes a pyarrow Table as it is, while a pandas DataFrame is first built
(per-row Python work) and then converted to Arrow column by column: on the Task Monitor's 2 s
refresh the two conversions cost more CPU than the data they show (bench/bench_monitor_browser.py
--stack). The result reads back the same way (AppTest's ``at.dataframe[i].value`` is a DataFrame).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa


def from_rows(rows: Iterable[dict], columns: Sequence[str] | None = None) -> pa.Table:
    """A Table with one column per key of the rows (`columns`, default every row's keys in the
    order first met, as pandas does; a key missing from a row is null). A column mixing text with
    other values (a count or "unknown") holds text, as Streamlit does for such a pandas column; no
    rows and no `columns` give an empty Table.

    Raises:
        pyarrow.ArrowInvalid: a column's values have no common Arrow type (e.g. lists and numbers).
    """
    rows = list(rows)
    names = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    data = {}
    for name in names:
        values = [r.get(name) for r in rows]
        kinds = {type(v) for v in values if v is not None}
        if str in kinds and len(kinds) > 1:
            values = [None if v is None else str(v) for v in values]
        data[name] = values
    return pa.table(data) if names else pa.table({})
