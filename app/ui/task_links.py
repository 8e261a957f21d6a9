"""The Task Monitor's view in its URL: a link per task and the Tasks tab's filters.

URL parameters of the Task Monitor, the console's home page ``/`` (all optional; a link with them
reproduces the view):

    task=<id>        open that task's detail
    app=<name>       the monitored app (app selector)
    state=, name=, queue=, worker=   the list's filters (exact values, as in the boxes)
    period=15m|1h|24h|7d             the time range
    q=<text>         the search box
    hk=1             show housekeeping tasks
    until=<YYYY-MM-DD HH:MM>         "jump to time" (UTC): the list starts at that time

`from_url` reads them once per session (a link opened in a new tab is a new session); `apply`
puts the filter values into the filter boxes just before they are drawn, keeping only values the
boxes offer; `sync` writes the current filters and the selected task back into the URL on each run,
so the address bar always holds a link to what is shown.
"""
from __future__ import annotations

from types import MappingProxyType
from urllib.parse import quote

import streamlit as st

#: URL parameter -> the Tasks tab's widget key.
FILTER_PARAMS = MappingProxyType({"state": "mon_state", "name": "mon_name", "queue": "mon_queue",
                                  "worker": "mon_worker", "period": "mon_period", "q": "mon_search",
                                  "until": "mon_until"})
#: URL value of each time range of the period box, and back.
PERIODS = MappingProxyType({"any time": "", "last 15 min": "15m", "last hour": "1h", "last 24 h": "24h",
                            "last 7 days": "7d"})
_PERIOD_OF = MappingProxyType({v: k for k, v in PERIODS.items() if v})
#: Session keys: the URL's values still to put into the boxes, and "the URL was read".
_PENDING = "mon_url_pending"
_READ = "mon_url_read"
HOUSEKEEPING_PARAM = "hk"


def task_url(task_id: str, base: str | None = None) -> str:
    """The link that opens `task_id`'s detail on the Task Monitor (the home page, whose path is the
    console's root): ``<base>/?task=<id>`` (`base` is CONSOLE_URL; without it, relative to the root)."""
    path = f"?task={quote(task_id, safe='')}"
    return f"{base.rstrip('/')}/{path}" if base else f"/{path}"


def from_url(selected_key: str, app_key: str, app_names) -> bool:
    """Once per session, before the app selector is drawn: read the URL's parameters; ``task`` selects
    that task (session key `selected_key`), ``app`` chooses an app of `app_names` (key `app_key`);
    the filters wait in the session for `apply`. True when the URL named a task or a filter (the
    caller opens the Tasks tab)."""
    if st.session_state.get(_READ):
        return False
    st.session_state[_READ] = True
    params = st.query_params
    if params.get("task"):
        st.session_state[selected_key] = params["task"]
    if params.get("app") in set(app_names):
        st.session_state[app_key] = params["app"]
    pending = {key: params[p] for p, key in FILTER_PARAMS.items() if params.get(p)}
    if pending.get("mon_period"):
        pending["mon_period"] = _PERIOD_OF.get(pending["mon_period"], "any time")
    if params.get(HOUSEKEEPING_PARAM) == "1":
        pending["mon_housekeeping"] = True
    st.session_state[_PENDING] = pending
    return bool(pending or params.get("task"))


def apply(options: dict[str, list]) -> None:
    """Put the URL's filter values into the filter boxes before they are drawn (once): a value must
    be one of `options[widget key]` when the box is a choice (`options` lists them), any text
    otherwise."""
    pending = st.session_state.pop(_PENDING, None) or {}
    for key, value in pending.items():
        if key in options and value not in options[key]:
            continue
        st.session_state[key] = value


def sync(selected: str | None, app: str | None, values: dict[str, object]) -> None:
    """Write the view into the URL: `selected` task, `app`, and the filter boxes' `values` (widget
    key -> value; "any", "any time", empty and False are left out). Parameters other than the
    view's own are kept."""
    wanted: dict[str, str] = {}
    for param, key in FILTER_PARAMS.items():
        value = values.get(key)
        if key == "mon_period":
            value = PERIODS.get(value, "")
        if value not in (None, "", "any", False):
            wanted[param] = str(value)
    if values.get("mon_housekeeping"):
        wanted[HOUSEKEEPING_PARAM] = "1"
    if app:
        wanted["app"] = app
    if selected:
        wanted["task"] = selected
    own = {*FILTER_PARAMS, HOUSEKEEPING_PARAM, "app", "task"}
    current = {k: st.query_params[k] for k in st.query_params}
    kept = {k: v for k, v in current.items() if k not in own}
    if {**kept, **wanted} != current:
        st.query_params.from_dict({**kept, **wanted})


def set_task(task_id: str | None) -> None:
    """Put the selected task into the URL (or take it out), other parameters unchanged."""
    if task_id and st.query_params.get("task") != task_id:
        st.query_params["task"] = task_id
    elif not task_id and "task" in st.query_params:
        del st.query_params["task"]
