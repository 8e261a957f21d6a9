"""One authenticated API request (`Call`), the clients it uses (`Context`), and `endpoint`, which turns
a plain function ``fn(call) -> dict | list | Response`` into a Starlette route.

`endpoint` reads the request (query string, then a form-encoded or JSON body, as Flower reads its
arguments), authenticates it (`app.api.auth`), runs `fn` in a worker thread (the store and Celery
clients are blocking) and maps errors to statuses with a JSON body ``{"error": message}``:

    ApiError(status)               its status (404 unknown id, 400 bad parameter, 503 ...)
    InvalidInput (and InvalidRole) 400
    TokenRefused, SignInRefused    401 with WWW-Authenticate (Bearer and Basic)
    PermissionDenied               403 (already audited "denied" by `app.access.act`)
    RateLimited                    429 with Retry-After
    Redis down, broker unreachable 503
    anything else                  500 (the traceback goes to the log, never to the client)
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.access import Identity, api_tokens
from app.api import auth
from app.errors import BrokerUnavailable, InvalidInput, PermissionDenied, ServiceUnavailable, SignInRefused
from app.store.clients import STORE_DOWN

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than 200: `status` and a message for the JSON body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Context:
    """The clients of the API process, built on first use from `app.runtime.get()` (or `runtime`)."""

    def __init__(self, runtime=None, apps=None):
        self._runtime = runtime
        self._lock = threading.RLock()
        self._broker = None
        self._apps = apps
        self._app_brokers: dict[str, Any] = {}
        self._imported = False
        #: Basic credentials verified in the last minute (`app.api.auth.RecentBasic`).
        self.recent_basic = auth.RecentBasic()

    @property
    def runtime(self):
        if self._runtime is None:
            from app import runtime

            self._runtime = runtime.get()
        return self._runtime

    @property
    def settings(self):
        return self.runtime.settings

    @property
    def redis(self):
        return self.runtime.redis

    @property
    def celery(self):
        """The runtime's Celery app, its task modules imported once (under the lock: importing
        registers tasks, which must not happen while another request iterates the registry)."""
        app = self.runtime.celery
        if not self._imported:
            with self._lock:
                if not self._imported:
                    app.loader.import_default_modules()
                    self._imported = True
        return app

    @property
    def broker(self):
        """The monitored broker (MONITOR_BROKER_URL, default the console's own), as the pages use it."""
        with self._lock:
            if self._broker is None:
                from app import priority
                from app.monitor import brokers

                s = self.settings
                mgmt = s.RABBITMQ_MANAGEMENT_URL
                steps = priority.redis_steps(self.celery) if s.monitor_broker_url == s.broker_url else None
                self._broker = brokers.from_url(s.monitor_broker_url, mgmt.get_secret_value() if mgmt else None, steps)
            return self._broker

    @property
    def apps(self):
        """The monitored apps (`app.monitor.apps.MonitoredApps`: the console's own app and MONITOR_APPS),
        built once; every action gets it and acts on the task's or worker's own app.

        Raises:
            NotConfigured: MONITOR_APPS is malformed.
        """
        with self._lock:
            if self._apps is None:
                from app.monitor.apps import MonitoredApps
                from config.celery_settings import QUEUES

                self._apps = MonitoredApps.from_settings(self.settings, self.celery, QUEUES)
            return self._apps

    def app_broker(self, name: str):
        """The broker adapter of monitored app `name`, built once: `broker` when the console's is
        the only app, else the app's own broker (the console's own with RABBITMQ_MANAGEMENT_URL,
        whatever MONITOR_BROKER_URL says), as the pages' app selector does.

        Raises:
            InvalidInput: no app of that name is monitored.
        """
        from app.monitor.apps import CONSOLE

        mon = self.apps.get(name)
        if len(self.apps) == 1:
            return self.broker
        with self._lock:
            if mon.name not in self._app_brokers:
                mgmt = self.settings.RABBITMQ_MANAGEMENT_URL if mon.name == CONSOLE else None
                self._app_brokers[mon.name] = mon.broker(mgmt.get_secret_value() if mgmt else None)
            return self._app_brokers[mon.name]

    def queue_names(self, app_name: str | None = None) -> tuple[str, ...]:
        """The queues the monitor measures for app `app_name` (default the console's: configured,
        plus those seen in events)."""
        from app.monitor import app_queues, queues
        from app.monitor.apps import CONSOLE

        if (app_name or CONSOLE) == CONSOLE:
            return queues.monitored(self.redis, self.settings.monitor_queues)
        return app_queues.names(self.redis, self.apps.get(app_name))


_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0"})


@dataclass
class Call:
    """One request as the route functions see it."""

    who: Identity
    ctx: Context
    path: dict[str, str]
    params: dict[str, str]
    body: bytes = b""
    json_body: Any = None
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        """Parameter `name` (query string, then form body) stripped, or `default`.

        Raises:
            ApiError(400): `required` and missing or empty.
        """
        value = self.params.get(name)
        value = value.strip() if isinstance(value, str) else value
        if required and not value:
            raise ApiError(400, f"Missing argument {name}")
        return default if value is None else value

    def typed(self, name: str, kind: type, default=None, required: bool = False):
        """Parameter `name` converted to `kind` (int, float or bool: y/yes/true/on/1 or n/no/false/off/0).

        Raises:
            ApiError(400): missing when `required`, or not convertible.
        """
        raw = self.arg(name, None, required)
        if raw is None or raw == "":
            return default
        try:
            if kind is bool:
                low = raw.lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError(raw)
                return low in _TRUE
            return kind(raw)
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid argument '{raw}' of type '{kind.__name__}'") from None

    def bounded_int(self, name: str, default: int, low: int, high: int) -> int:
        """Integer parameter bounded to low..high. Raises ApiError(400) outside them."""
        value = self.typed(name, int, default)
        if not low <= value <= high:
            raise ApiError(400, f"{name} must be between {low} and {high}, got {value}")
        return value


class JSON(JSONResponse):
    """JSON with datetimes and other non-JSON values as text (never a 500 for a stray type)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, default=str,
                          separators=(",", ":")).encode("utf-8")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSON({"error": message}, status_code=status, headers=headers)


def _parse(request: Request, body: bytes) -> tuple[dict[str, str], Any]:
    """(parameters: query string, then a form body's fields; the JSON body or None).

    Raises:
        ApiError(400): a body that should be JSON and is not.
    """
    params = dict(request.query_params)
    parsed = None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and ctype == "application/x-www-form-urlencoded":
        for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            params.setdefault(k, v)
    elif body and ctype in ("application/json", ""):
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, f"The body is not JSON: {exc}") from None
    return params, parsed


def _run(fn: Callable[[Call], Any], ctx: Context, request: Request, body: bytes, peer: str) -> Any:
    """Authenticate the request, then run `fn` on it: both in the same worker thread (one hand-off
    from the event loop per request; each costs a scheduling wake-up, milliseconds on a busy host).
    Raises what `app.api.auth.authenticate`, `_parse` and `fn` raise."""
    who = auth.authenticate(ctx.redis, ctx.settings, request.headers.get("authorization"), peer, ctx.recent_basic)
    params, parsed = _parse(request, body)
    return fn(Call(who, ctx, dict(request.path_params), params, body, parsed, request.method, dict(request.headers)))


def endpoint(fn: Callable[[Call], Any], query: tuple[str, ...] = ()) -> Callable:
    """A Starlette endpoint running `fn(call)` for an authenticated request (see the module docstring).

    `fn` returns a JSON-able value (sent with status 200) or a Starlette `Response`; `query` names
    the parameters it reads (for the OpenAPI document).
    """

    async def route(request: Request) -> Response:
        ctx: Context = request.app.state.ctx
        try:
            body = await request.body()
            peer = request.client.host if request.client else ""
            out = await run_in_threadpool(_run, fn, ctx, request, body, peer)
        except ApiError as exc:
            return _error(exc.status, str(exc))
        except (api_tokens.TokenRefused, SignInRefused) as exc:
            headers = {"WWW-Authenticate": auth.CHALLENGE}
            retry = getattr(exc, "retry_after_s", None)
            if retry:
                headers["Retry-After"] = str(int(retry) + 1)
            return _error(401, str(exc), headers)
        except api_tokens.RateLimited as exc:
            return _error(429, str(exc), {"Retry-After": str(int(exc.retry_after_s) + 1)})
        except PermissionDenied as exc:
            return _error(403, str(exc))
        except InvalidInput as exc:
            return _error(400, str(exc))
        except STORE_DOWN:
            log.warning("API %s %s: the console's Redis does not answer", request.method, request.url.path)
            return _error(503, "The console's Redis does not answer; try again shortly.")
        except (BrokerUnavailable, ServiceUnavailable) as exc:
            return _error(503, str(exc))
        except Exception:  # noqa: BLE001 - a JSON 500, the traceback in the log only
            log.exception("API %s %s failed", request.method, request.url.path)
            return _error(500, "Internal error; the API log has the details.")
        if isinstance(out, Response):
            return out
        return JSON(out)

    route.__name__ = fn.__name__
    route.__doc__ = fn.__doc__
    route.query = query
    return route
