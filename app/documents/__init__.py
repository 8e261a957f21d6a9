"""Document readers, one module per format; pure functions, no Celery or Streamlit."""
