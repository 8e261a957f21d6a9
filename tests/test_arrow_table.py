"""`app.ui.arrow_table.from_rows`: the Task Monitor's tables as pyarrow Tables, read back by AppTest
as pandas does them."""
from __future__ import annotations

import pyarrow as pa
from streamlit.testing.v1 import AppTest

from app.ui.arrow_table import from_rows


def test_columns_in_first_met_order_missing_keys_null_and_mixed_columns_as_text():
    t = from_rows([{"queue": "a", "ready": 1, "reserved": "unknown"},
                   {"queue": "b", "ready": 2, "reserved": 3, "broker consumers": 1}])
    assert t.column_names == ["queue", "ready", "reserved", "broker consumers"]
    assert t.column("ready").type == pa.int64() and t.column("ready").to_pylist() == [1, 2]
    assert t.column("reserved").to_pylist() == ["unknown", "3"]  # as Streamlit shows a mixed pandas column
    assert t.column("broker consumers").to_pylist() == [None, 1]
    assert from_rows([], ["x"]).column_names == ["x"] and from_rows([]).num_columns == 0


def test_a_dataframe_of_it_reads_back_as_the_rows():
    def script():
        import streamlit as st

        from app.ui.arrow_table import from_rows

        st.dataframe(from_rows([{"worker": "w1", "online": "online", "active": 0},
                                {"worker": "w2", "online": "OFFLINE", "active": 2}]), hide_index=True)

    at = AppTest.from_function(script).run()
    assert not at.exception
    df = at.dataframe[0].value
    assert list(df.columns) == ["worker", "online", "active"]
    assert df.to_dict("records") == [{"worker": "w1", "online": "online", "active": 0},
                                     {"worker": "w2", "online": "OFFLINE", "active": 2}]
