"""Issues: task failures grouped by cause (task name + exception type + normalised message), with
count, first/last seen, queues and workers, a 24 h sparkline, the newest traceback and "retry all"."""
import streamlit as st

from app.monitor import actions
from app.store import failure_groups
from app.ui import app_selector, confirm
from app.ui.monitor_widgets import ago, when
from app.ui.access import can
from app.ui.navigation import via_entry_script
from app.ui.resources import redis_client, redis_ok_or_banner
from app.ui.text import plain  # task names, exceptions and worker names come from events: text, not Markdown
from app.store.clients import STORE_DOWN

via_entry_script()

st.title("Issues")
if not redis_ok_or_banner():
    st.stop()
confirm.pending_box()
client, chosen = redis_client(), app_selector.choose()  # several monitored apps: all, or one
try:
    groups = failure_groups.list_groups(client, limit=100, app=chosen)
except STORE_DOWN as exc:
    st.error(f"Redis stopped answering: {exc}", icon=":material/error:")
    st.stop()
if not groups:
    st.info("No failures recorded yet" + (f" for app {chosen}" if chosen else "") + ". Each failed task is grouped here by its cause.")
    st.stop()
st.caption("Failures grouped by task name, exception type and message with numbers, ids, paths, URLs "
           "and addresses masked. Sparkline: failures per hour over the last 24 h.")
rows = [{"task": g["name"], "exception": g["exc_type"], "message": g["message"], "count": g["count"],
         "last 24 h": g["spark"], "first seen": when(g["first_at"]), "last seen": ago(g["last_at"]),
         "apps": ", ".join(g["apps"]), "queues": ", ".join(g["queues"]),
         "workers": ", ".join(w.split("@")[0] for w in g["workers"])} for g in groups]
event = st.dataframe(rows, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                     key="iss_table", column_config={"last 24 h": st.column_config.LineChartColumn(y_min=0)})
picked = event.selection.rows[0] if event and event.selection and event.selection.rows else 0
group = groups[min(picked, len(groups) - 1)]
st.subheader(plain(f"{group['exc_type']} in {group['name']}"))
c = st.columns(4)
c[0].metric("Failures", group["count"])
c[1].metric("First seen", ago(group["first_at"]))
c[2].metric("Last seen", ago(group["last_at"]))
c[3].metric("Still failed", len(failure_groups.retryable_ids(client, group["fingerprint"], app=chosen)))
st.code(group["message"] or "(no message)", language=None)
st.caption(plain(" · ".join(f"{label}: " + (", ".join(f"{k} ({n})" for k, n in group[key].items()) or "—")
                            for label, key in (("Apps", "apps"), ("Queues", "queues"), ("Workers", "workers")))))
example = failure_groups.example(client, group)
if example:
    st.caption(f"Newest example: `{plain(example['id'])}` · {plain(example.get('exception') or '')}")
    st.code(f"args   = {example.get('args') or ''}\nkwargs = {example.get('kwargs') or ''}", language="json")
    if example.get("traceback"):
        with st.expander("Traceback", expanded=True):
            st.code(example["traceback"])
app, who, fp = app_selector.monitored_apps(), confirm.who(), group["fingerprint"]
if can("retry_group") and st.button("Retry all failed in this group", key="iss_retry_all", type="primary"):
    confirm.ask(f"Retry every still-failed task of '{group['exc_type']} in {group['name']}' (up to 500"
                f"{', app ' + chosen if chosen else ''}), each on its own app",
                lambda: actions.retry_failure_group(app, client, fp, who, app_name=chosen))
