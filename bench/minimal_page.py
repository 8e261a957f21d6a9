"""Baseline page for bench_monitor_browser.py: Streamlit's floor for navigate → run a script → show
the five queue names (no Redis, no plotly, no fragments)."""
import streamlit as st

st.title("Task Monitor")
for name in ("email_queue", "file_processing_queue", "ai_queue", "reports_queue", "default_queue"):
    st.write(name)
