"""Reports: analytics over stored data, AI summaries, exports, task performance.

Modules: `loading` (records / stored CSV, XLSX, JSON → DataFrame), `analysis` (pandas statistics),
`document` (the format-neutral report), `content` (analysis → document), `charts` (plotly HTML,
matplotlib PNG), `writers` (html, xlsx, docx, pdf, json), `executive` (AI executive summary),
`export` (csv, xlsx, json, xml in chunks), `performance` (task history → performance report),
`rendering` (document → files with progress), `recurring` (report beat entries through
`app.schedules`, which takes the Celery app as a parameter). No celery or streamlit
imports here.
"""
