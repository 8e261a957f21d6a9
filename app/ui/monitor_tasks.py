"""Tasks tab of the Task Monitor: filters and search, the live table, paging, CSV export and the bulk actions.

The list is about the operator's work: the console's own housekeeping tasks (beat's maintenance and
alert evaluation, every 30-60 s) are left out unless "Show housekeeping tasks" is ticked. The search
box matches task names as well as ids and argument words. A selected row is remembered by its task
id, so rows arriving between refreshes never move the selection onto another task.

The newest page refreshes on its own; "Older" and "Newer" page through the whole filtered history
with the history's cursors (`app.store.history.page`, as the HTTP API's ``/api/v1/tasks``), and
"Jump to (UTC)" starts the list at a time. The filters and the selected task are kept in the URL
(`app.ui.task_links`), and "Export CSV" writes the filtered list (`app.ui.task_export`).
"""
from __future__ import annotations

from types import MappingProxyType
import dataclasses
import hashlib
import time
from datetime import datetime, timezone

import streamlit as st

from app.monitor import actions, workers
from app.store import history
from app.store.history import TaskFilter
from app.store.states import STATES
from app.ui import app_selector, confirm, tab_refresh, task_export, task_links
from app.ui.access import can
from app.ui.monitor_overview import REFRESH_S
from app.ui.monitor_widgets import task_lookup, tasks_table, when
from app.ui.resources import redis_client
from app.store.clients import STORE_DOWN

SELECTED = "mon_selected_task"
#: The label of the Task Monitor's tab holding the list.
TASKS_TAB = "Tasks"
#: Session keys: the cursors of the older pages opened (a stack; empty: the newest page), and the
#: filter they belong to (another filter starts again at the newest page).
CURSORS = "mon_cursors"
_CURSORS_OF = "mon_cursors_filter"
_EXPORT = "mon_export_csv"
#: Session key holding (table widget key, ids shown in that table, newest first).
SHOWN = "mon_table_ids"
HOUSEKEEPING_TOGGLE = "mon_housekeeping"
_LAST_CLICK = "mon_last_click"
RANGES_S = MappingProxyType({"any time": None, "last 15 min": 900, "last hour": 3600, "last 24 h": 86_400, "last 7 days": 604_800})
#: Tasks beat sends for the console itself (maintenance, queue samples, alert evaluation).
HOUSEKEEPING = frozenset({
    "app.tasks.alert_tasks.evaluate_alerts", "app.tasks.maintenance_tasks.monitor_queue_sizes",
    "app.tasks.maintenance_tasks.cleanup_old_results", "app.tasks.maintenance_tasks.cleanup_failed_tasks",
    "app.tasks.maintenance_tasks.archive_old_files", "app.tasks.file_tasks.cleanup_temp_files"})
#: Most task names a name search looks into (each is one indexed query).
NAME_MATCHES_MAX = 5


def from_url() -> None:
    """Before the app selector and the tabs are drawn: the URL's task, app and filters
    (`app.ui.task_links`); a link with a task or a filter opens the Tasks tab."""
    from app.ui.task_detail import TABS_KEY

    if task_links.from_url(SELECTED, app_selector.KEY, app_selector.monitored_apps().names):
        st.session_state[TABS_KEY] = TASKS_TAB


def jump_time(text: str | None) -> float | None:
    """"Jump to" text (``YYYY-MM-DD HH:MM[:SS]``, UTC) as epoch seconds; None when empty.

    Raises:
        ValueError: text that is not such a time.
    """
    text = (text or "").strip()
    if not text:
        return None
    at = datetime.fromisoformat(text.replace("T", " "))
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()


def filters(queue_names) -> TaskFilter:
    """Filter widgets (outside the refreshing fragment, so they keep their values); the URL's values
    go into them first, and the chosen ones back into the URL."""
    client = redis_client()
    options = {"mon_state": ["any", *STATES], "mon_name": ["any", *history.task_names(client)],
               "mon_queue": ["any", *queue_names], "mon_worker": ["any", *workers.hostnames(client, 100)],
               "mon_period": list(RANGES_S)}
    task_links.apply(options)
    c = st.columns([1.2, 2, 1.6, 1.6, 1.3, 2, 1.6])
    state = c[0].selectbox("State", options["mon_state"], key="mon_state")
    name = c[1].selectbox("Task", options["mon_name"], key="mon_name",
                          format_func=lambda n: n if n == "any" else n.rsplit(".", 1)[-1])
    queue = c[2].selectbox("Queue", options["mon_queue"], key="mon_queue")
    worker = c[3].selectbox("Worker", options["mon_worker"], key="mon_worker")
    period = c[4].selectbox("Time", options["mon_period"], key="mon_period")
    search = c[5].text_input("Search", key="mon_search", placeholder="name, id, file, address…",
                             help="A task id, part of a task name, or words of its arguments")
    until_text = c[6].text_input("Jump to (UTC)", key="mon_until", placeholder="2026-01-31 14:05",
                                 help="Start the list at this time: the tasks first seen at or before it")
    st.checkbox("Show housekeeping tasks", key=HOUSEKEEPING_TOGGLE,
                help="The console's own tasks sent by beat: alert evaluation, queue samples, clean-ups")
    try:
        until = jump_time(until_text)
    except ValueError:
        until = None
        st.warning(f"Jump to {until_text!r}: write a time like 2026-01-31 14:05 (UTC).", icon=":material/schedule:")
    since = time.time() - RANGES_S[period] if RANGES_S[period] else None
    any_ = lambda v: None if v == "any" else v  # noqa: E731
    task_links.sync(st.session_state.get(SELECTED), app_selector.current(),
                    {key: st.session_state.get(key) for key in (*task_links.FILTER_PARAMS.values(), HOUSEKEEPING_TOGGLE)})
    return TaskFilter(state=any_(state), name=any_(name), queue=any_(queue), worker=any_(worker),
                      since=since, until=until, search=search.strip() or None, app=app_selector.current())


def query(client, flt: TaskFilter, limit: int = 50, housekeeping: bool = False) -> list[dict]:
    """Newest-first tasks matching `flt` (at most `limit`): a search also matches task names
    (case-insensitive part of the name, up to NAME_MATCHES_MAX names); housekeeping tasks are left
    out unless `housekeeping` or the filter names one. Raises what `history.list_tasks` raises."""
    found = {t["id"]: t for t in history.list_tasks(client, flt, limit=limit * 2)}
    needle = (flt.search or "").lower()
    if needle and not flt.name:
        names = [n for n in history.task_names(client) if needle in n.lower()][:NAME_MATCHES_MAX]
        for name in names:
            for t in history.list_tasks(client, dataclasses.replace(flt, name=name, search=None), limit=limit):
                found.setdefault(t["id"], t)
    rows = sorted(found.values(), key=lambda t: t.get("sent_at") or t.get("received_at") or 0, reverse=True)
    if not (housekeeping or flt.name in HOUSEKEEPING):
        rows = [t for t in rows if t.get("name") not in HOUSEKEEPING]
    return rows[:limit]


def take_selection() -> None:
    """Turn a row click into the task id shown in that table (before the table is drawn again: new
    rows may have arrived since, and the click belongs to the rows the operator saw)."""
    key, ids = st.session_state.get(SHOWN, (None, []))
    if key:
        _apply_click(key, ((st.session_state.get(key) or {}).get("selection") or {}).get("rows") or [], ids)


def _apply_click(key: str, rows: list[int], ids: list[str]) -> None:
    """Select ids[rows[0]] once per click: a selection still held by the table widget does not undo a
    later choice (a related-task link) on the next refresh."""
    click = (key, tuple(rows))
    if rows and rows[0] < len(ids) and st.session_state.get(_LAST_CLICK) != click:
        st.session_state[_LAST_CLICK] = click
        st.session_state[SELECTED] = ids[rows[0]]


def _filter_key(flt: TaskFilter) -> str:
    """The filter without its moving "since" (a time range is re-read on every run)."""
    return repr(dataclasses.replace(flt, since=None)) + str(flt.since is None)


def cursors(flt: TaskFilter) -> list[str]:
    """The cursor stack of the pages opened under `flt` (another filter: back to the newest page)."""
    if st.session_state.get(_CURSORS_OF) != _filter_key(flt):
        st.session_state[_CURSORS_OF] = _filter_key(flt)
        st.session_state[CURSORS] = []
    return st.session_state[CURSORS]


def page_rows(client, flt: TaskFilter, limit: int, housekeeping: bool) -> tuple[list[dict], str | None]:
    """(rows, cursor of the next older page or None): the newest page is `query`'s (a search matches
    names too), an older one the history's page at the last cursor opened."""
    stack = cursors(flt)
    if not stack:
        return query(client, flt, limit, housekeeping), None
    rows, nxt = history.page(client, flt, limit, stack[-1])
    if not (housekeeping or flt.name in HOUSEKEEPING):
        rows = [t for t in rows if t.get("name") not in HOUSEKEEPING]
    return rows, nxt or ""


def _older(client, flt: TaskFilter, limit: int, nxt: str | None) -> None:
    cursor = nxt if nxt is not None else history.page(client, flt, limit)[1]
    if cursor:
        cursors(flt).append(cursor)
    else:
        st.toast("No older tasks match the filter.")


def pager(client, flt: TaskFilter, limit: int, nxt: str | None) -> None:
    """Newer / Newest / Older buttons and the page number (page 1 is the newest, refreshing on its
    own). The buttons change the cursor stack in their callbacks, before the list is drawn again."""
    stack = cursors(flt)
    c = st.columns([1, 1, 1, 5])
    c[0].button("Newer", key="mon_newer", icon=":material/chevron_left:", disabled=not stack, on_click=stack.pop)
    c[1].button("Newest", key="mon_newest", disabled=not stack, on_click=stack.clear)
    c[2].button("Older", key="mon_older", icon=":material/chevron_right:", disabled=nxt == "",
                on_click=_older, args=(client, flt, limit, nxt))
    c[3].caption(f"Page {len(stack) + 1}" + (" (newest, refreshing)" if not stack else " (older: not refreshing)"))


def table(flt: TaskFilter, limit: int = 50) -> None:
    """The page of tasks (the newest refreshing); selecting a row opens its detail (kept across
    refreshes and put into the URL)."""
    take_selection()
    t0 = time.perf_counter()
    client = redis_client()
    tasks, nxt = page_rows(client, flt, limit, st.session_state.get(HOUSEKEEPING_TOGGLE, False))
    took_ms = (time.perf_counter() - t0) * 1000
    df = tasks_table(tasks)
    ids = list(df["id"])
    # a new widget key when the rows change: a row position always means the same task under one key,
    # and a stale highlight never points at another task
    key = "mon_tasks_table:" + hashlib.sha1("".join(ids).encode()).hexdigest()[:12]
    st.session_state[SHOWN] = (key, ids)
    event = st.dataframe(df, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key=key, column_config=COLUMNS, column_order=COLUMN_ORDER)
    _apply_click(key, list(event.selection.rows) if event and event.selection else [], ids)
    selected = st.session_state.get(SELECTED)
    task_links.set_task(selected)
    st.caption(f"{len(tasks)} task(s) shown · query {took_ms:.1f} ms · select a row for its detail"
               + (f" · selected {selected}" if selected else ""))
    pager(client, flt, limit, nxt)


#: Runtime and result right after the task's name: on a 1400 px screen they are in view.
COLUMN_ORDER = ("id", "state", "progress", "name", "runtime (s)", "result", "queue", "worker", "sent")
COLUMNS = MappingProxyType({
    "id": st.column_config.TextColumn("id", width=290, help="Task id: copy a cell with Ctrl+C"),
    "state": st.column_config.TextColumn("state", width=90),
    "progress": st.column_config.ProgressColumn("progress", format="%d%%", min_value=0, max_value=100, width=90),
    "name": st.column_config.TextColumn("task", width="medium"),
    "queue": st.column_config.TextColumn("queue", width="small"),
    "worker": st.column_config.TextColumn("worker", width="small"),
    "sent": st.column_config.TextColumn("sent (UTC)", width=150),
    "runtime (s)": st.column_config.NumberColumn("runtime (s)", width=90, format="%.3f"),
    "result": st.column_config.TextColumn("result", width="large"),
})


def _selected() -> bool:
    from app.ui import task_detail  # task_detail imports this module

    return tab_refresh.selected(task_detail.TABS_KEY, "Tasks", "Overview")


@tab_refresh.timed_while_selected(REFRESH_S, _selected)
def live(flt: TaskFilter) -> None:
    """The table and the selected task's detail, refreshed every REFRESH_S while the Tasks tab is
    the selected one (app.ui.tab_refresh)."""
    from app.ui import task_detail

    if tab_refresh.hidden(task_detail.TABS_KEY, "Tasks", "Overview"):
        return
    try:
        table(flt)
        export(flt)
        selected = st.session_state.get(SELECTED)
        if selected:
            st.divider()
            task_detail.detail(selected)
    except STORE_DOWN as exc:
        st.error(f"Redis stopped answering: {exc}", icon=":material/error:")


def export(flt: TaskFilter) -> None:
    """"Export CSV": every task of the filter (`app.ui.task_export`), then a download button."""
    c = st.columns([1, 1, 4])
    housekeeping = st.session_state.get(HOUSEKEEPING_TOGGLE, False) or flt.name in HOUSEKEEPING
    if c[0].button("Export CSV", key="mon_export", icon=":material/download:"):
        data, n = task_export.csv_bytes(redis_client(), flt, frozenset() if housekeeping else HOUSEKEEPING)
        st.session_state[_EXPORT] = (_filter_key(flt), data, n)
    made = st.session_state.get(_EXPORT)
    if made and made[0] == _filter_key(flt):
        c[1].download_button("Download tasks.csv", made[1], file_name="tasks.csv", mime="text/csv",
                             key="mon_export_download", on_click="ignore")
        c[2].caption(f"{made[2]} task(s) (at most {task_export.EXPORT_MAX}), newest first; cells redacted "
                     f"and safe for spreadsheets")


def lookup() -> None:
    """A task id box: Celery's and the history's view of that id."""
    st.subheader("Check a task by id")
    task_id = st.text_input("Task id", key="lookup_id", placeholder="e.g. 4f1c…")
    if task_id:
        task_lookup(redis_client(), task_id)


def bulk_actions(flt: TaskFilter) -> None:
    """Revoke or retry every task matching the current filter (confirmation first)."""
    if not can("bulk_revoke"):
        return
    app, client, who = app_selector.monitored_apps(), redis_client(), confirm.who()
    active = {k: v for k, v in vars(flt).items() if v}
    c = st.columns([1, 1, 4])
    label = ", ".join(f"{k}={v if k not in ('since',) else when(v)}" for k, v in active.items()) or "all tasks"
    if c[0].button("Bulk revoke", key="bulk_revoke", disabled=not active):
        confirm.ask(f"Revoke every task matching {label} (up to 500)", lambda: actions.bulk(app, client, flt, "revoke", who))
    if c[1].button("Bulk retry", key="bulk_retry", disabled=not active):
        n = actions.bulk_preview(client, flt, "retry")  # dry run first: the count goes in the question
        confirm.ask(f"Retry {n['would_act']} FAILURE/REVOKED task(s) of the {n['matching']} matching {label} "
                    f"(others are skipped)", lambda: actions.bulk(app, client, flt, "retry", who))
    c[2].caption("Bulk actions apply to the current filter (choose at least one filter).")
