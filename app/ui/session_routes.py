"""The console's own HTTP routes beside Streamlit's: they set and clear the session cookie, so the
cookie is HttpOnly (the page's scripts cannot read it) and only the server ever writes it.

Mounted through Streamlit's documented ASGI hook, ``st.App(script, routes=[...])`` (Streamlit
1.67 runs on Starlette; `streamlit run streamlit_app.py` finds the ``app`` object and serves it
with uvicorn). Routes, under Streamlit's server.baseUrlPath:

- ``POST /_console/session`` form field ``code``: a one-time code the page got at sign-in
  (`app.access.sessions.hand_off`, valid 60 s). Sets ``cc_session=<token>; HttpOnly; SameSite=Strict;
  Path=/; Max-Age=<rest of the session>`` (plus ``Secure`` when the request came over HTTPS). 204 on
  success, 400 for an unknown/used code, 403 when the Origin header names another host.
- ``POST /_console/signout``: clears the cookie (Max-Age=0). 204. The session itself is ended in
  Redis by the page; a copy of the cookie is worthless from then on.
"""
from __future__ import annotations

import functools
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.access import sessions
from config.settings import get_settings

SESSION_PATH = "/_console/session"
SIGN_OUT_PATH = "/_console/signout"


@functools.lru_cache(maxsize=1)
def _client():
    """The console's Redis, built on the first request (one client per server process)."""
    from app.store.clients import redis_from_url

    return redis_from_url(get_settings().result_backend)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin:  # same-origin fetches from older browsers may omit it; SameSite=Strict covers them
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def set_session_cookie(request: Request) -> Response:
    """Exchange the one-time code for the HttpOnly session cookie (see the module docstring)."""
    if not _same_origin(request):
        return Response("cross-origin request refused", status_code=403)
    form = await request.form()
    code = str(form.get("code") or "")
    client = _client()
    token = await run_in_threadpool(sessions.take_hand_off, client, code)
    if not token:
        return Response("unknown or used code", status_code=400)
    max_age_s = await run_in_threadpool(sessions.remaining_s, client, sessions.digest(token))
    if max_age_s <= 0:
        return Response("the session has ended", status_code=400)
    response = Response(status_code=204)
    response.set_cookie(sessions.COOKIE, token, max_age=max_age_s, path="/", httponly=True,
                        samesite="strict", secure=_secure(request))
    return response


async def clear_session_cookie(request: Request) -> Response:
    """Clear the session cookie."""
    if not _same_origin(request):
        return Response("cross-origin request refused", status_code=403)
    response = Response(status_code=204)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response


def routes(base_path: str = "") -> list[Route]:
    """The routes to hand to ``st.App(routes=...)``; `base_path` is server.baseUrlPath ("" or "/x")."""
    return [Route(base_path + SESSION_PATH, set_session_cookie, methods=["POST"]),
            Route(base_path + SIGN_OUT_PATH, clear_session_cookie, methods=["POST"])]
