"""The API's ASGI app and its process: `build_app()` and ``python -m app.api`` (uvicorn).

The process refuses to start (exit status 2, the reason on stderr) when the settings would expose
the console without sign-in (`app.access.startup.problems`: API_ADDRESS off the loopback with no
CONSOLE_AUTH, among the console's own rules). It binds API_ADDRESS:API_PORT; the client address
recorded in the audit log is the TCP peer (proxy headers are not believed).

``/api/openapi.json`` (OpenAPI 3.1) and ``/api/docs`` (a plain HTML list of the routes, no external
assets) describe every route and need no credentials; every other route does.
"""
from __future__ import annotations

import html
import inspect
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from app.api import console, flower
from app.api.calls import Context

TITLE = "Celery console HTTP API"
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _operations() -> list[tuple[str, str, str, list[str], tuple[str, ...]]]:
    """(OpenAPI path, method, docstring, path parameter names, query parameter names) of every
    authenticated route."""
    out = []
    for route in (*flower.ROUTES, *console.ROUTES):
        path = _PARAM.sub(r"{\1}", route.path)
        for method in sorted(route.methods - {"HEAD"}):
            out.append((path, method.lower(), inspect.cleandoc(route.endpoint.__doc__ or ""),
                        _PARAM.findall(route.path), getattr(route.endpoint, "query", ())))
    return out


def openapi_document() -> dict:
    """The OpenAPI 3.1 document of the API (paths, methods, summaries, path and query parameters,
    security)."""
    paths: dict[str, dict] = {}
    for path, method, doc, params, query in _operations():
        summary, _, rest = doc.partition("\n")
        paths.setdefault(path, {})[method] = {
            "summary": summary, "description": doc,
            "tags": ["console" if path.startswith("/api/v1/") else "flower-compatible"],
            "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
            + [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}} for q in query],
            "responses": {"200": {"description": "OK (JSON)"}, "400": {"description": "bad input"},
                          "401": {"description": "no or bad credentials"},
                          "403": {"description": "role too low (audited), or the worker refused"},
                          "404": {"description": "unknown id"}, "429": {"description": "rate limit"}},
        }
    return {"openapi": "3.1.0",
            "info": {"title": TITLE, "version": "1",
                     "description": "Flower 2.2-compatible routes under /api/ and the console's own under /api/v1/."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                               "basic": {"type": "http", "scheme": "basic"}}},
            "security": [{"bearer": []}, {"basic": []}], "paths": paths}


async def _openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


async def _docs(request: Request) -> HTMLResponse:
    rows = "".join(f"<tr><td><code>{m.upper()}</code></td><td><code>{html.escape(p)}</code></td>"
                   f"<td><pre>{html.escape(d)}</pre></td></tr>" for p, m, d, _, _ in _operations())
    return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>{TITLE}</title><h1>{TITLE}</h1>"
                        f"<p>Send <code>Authorization: Bearer &lt;token&gt;</code> (<code>python -m app tokens add "
                        f"NAME</code>) or HTTP Basic. Machine-readable: "
                        f"<a href=/api/openapi.json>/api/openapi.json</a>."
                        f"</p><table border=1 cellpadding=4>{rows}</table>")


def build_app(runtime=None, apps=None) -> Starlette:
    """The ASGI app; its clients come from `runtime` (default: this process's `app.runtime.get()`),
    its monitored apps from `apps` (`app.monitor.apps.MonitoredApps`; default built once from the
    settings)."""
    app = Starlette(routes=[*flower.ROUTES, *console.ROUTES, Route("/api/openapi.json", _openapi),
                            Route("/api/docs", _docs)])
    app.state.ctx = Context(runtime, apps)
    return app


def main() -> int:
    """Run the API under uvicorn on API_ADDRESS:API_PORT; 2 when the settings are refused."""
    import uvicorn

    from app.access import startup
    from config.settings import get_settings

    settings = get_settings()
    if startup.refused(startup.problems(settings), " the API"):
        return 2
    uvicorn.run(build_app(), host=settings.API_ADDRESS, port=settings.API_PORT, proxy_headers=False,
                log_level="info", server_header=False)
    return 0
