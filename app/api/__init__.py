"""The HTTP API (`python -m app.api`, the ``api`` process): an ASGI app (Starlette on uvicorn).

- `server`   — `build_app(settings)`: the routes, error handlers and OpenAPI document; `main()`.
- `calls`    — `Call` (one authenticated request: its identity, parameters and the process's clients)
               and `endpoint`, which wraps a plain function into a route (sign-in, rate limit, errors).
- `auth`     — who a request is: ``Authorization: Bearer <token>`` (`app.access.api_tokens`) or HTTP
               Basic with an account's password (`app.access.signin`, throttled and audited).
- `flower`   — the routes of Flower 2.2's API under ``/api/`` with its methods, parameters, status
               codes and JSON keys (`flower_shapes` turns history records into Flower's task dicts).
- `console`  — the console's own routes under ``/api/v1/``: history pages with cursors, task detail
               with timeline and diagnosis, failure groups, alerts, schedules, queues, audit log.

Every route reads through the same store functions as the pages (`app.store.history`,
`app.monitor.*`) and changes things only through the action layer (`app.monitor.actions`,
`app.access.act`), so the API and the pages share one permission check and one audit log. The Celery
app and Redis come from `app.runtime.get()`; the monitored apps (`app.monitor.apps.MonitoredApps`,
built once per process) send each action to the task's or worker's own app.
"""


def main() -> int:
    """Run the API process (`app.api.server.main`)."""
    from app.api.server import main as serve

    return serve()
