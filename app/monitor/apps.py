"""The Celery apps one console monitors: its own ("console") and any listed in MONITOR_APPS.

Each `MonitoredApp` has a name, a broker URL, optionally a result-backend URL and queue names. Its
`celery` object is a plain ``Celery(name, broker=..., backend=...)`` with no task modules, used only
to talk to that app's workers and broker: ``control.revoke``, remote-control broadcasts,
``send_task`` by name, ``AsyncResult`` on its result backend. The console's own app uses the
console's Celery app itself.

MONITOR_APPS syntax (entries separated by ``;``, blanks ignored)::

    name=broker_url[|result_backend_url][|queue,queue]

The part after the broker that holds ``://`` is the result backend, the other one the queue list
(comma-separated). Names: 1-32 of ``a-z 0-9 _ -``, unique, not "console". Example::

    MONITOR_APPS="billing=redis://billing-redis:6379/0|redis://billing-redis:6379/1|invoices,mail;
                  shop=amqp://guest:guest@rabbit:5672/shop||orders"

A JSON list of objects ``{"name", "broker", "backend"?, "queues"?}`` is read too (a value
starting with ``[``). MONITOR_BROKER_URL, when MONITOR_APPS is empty and it differs from the
console's broker, is the one-app shorthand: an app named "monitored" with MONITOR_QUEUES (less the
console's own queue names) as its queues.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from app.errors import InvalidInput, NotConfigured
from app.monitor import brokers

CONSOLE = "console"
SHORTHAND = "monitored"
_NAME_RE = re.compile(r"^[a-z0-9_-]{1,32}$")


@dataclass
class MonitoredApp:
    """One monitored Celery app. `celery` is built on first use (`Celery`, no task modules)."""

    name: str
    broker_url: str
    result_backend: str | None = None
    queues: tuple[str, ...] = ()
    _celery: Any = field(default=None, repr=False, compare=False)

    @property
    def celery(self):
        """The plain Celery app on this app's broker and result backend (built once)."""
        if self._celery is None:
            from celery import Celery

            app = Celery(f"monitor-{self.name}", broker=self.broker_url,
                         backend=self.result_backend or None, set_as_current=False)
            app.conf.update(broker_connection_retry_on_startup=True, accept_content=["json"],
                            task_serializer="json", result_serializer="json",
                            broker_connection_timeout=3, result_backend_always_retry=False)
            self._celery = app
        return self._celery

    def broker(self, management_url: str | None = None):
        """A new `app.monitor.brokers.Broker` on this app's broker (the caller closes it)."""
        return brokers.from_url(self.broker_url, management_url)

    @property
    def broker_kind(self) -> str:
        """"redis" or "amqp" (`app.monitor.brokers.kind_of`)."""
        return brokers.kind_of(self.broker_url)

    def describe(self) -> str:
        """One line for logs and the start banner (no password)."""
        backend = brokers.safe_url(self.result_backend) if self.result_backend else "none"
        queues = ",".join(self.queues) or "as seen"
        return f"{self.name}: broker {brokers.safe_url(self.broker_url)}, results {backend}, queues {queues}"


def _check_name(name: str, seen: set[str]) -> str:
    name = name.strip()
    if not _NAME_RE.match(name):
        raise NotConfigured(f"MONITOR_APPS: app name {name!r} must be 1-32 of a-z 0-9 _ - .")
    if name == CONSOLE:
        raise NotConfigured(f"MONITOR_APPS: the name {CONSOLE!r} is the console's own app; pick another.")
    if name in seen:
        raise NotConfigured(f"MONITOR_APPS: app {name!r} is listed twice.")
    seen.add(name)
    return name


def _check_url(name: str, what: str, url: str) -> str:
    url = url.strip()
    try:
        brokers.kind_of(url) if what == "broker" else None
    except ValueError as exc:
        raise NotConfigured(f"MONITOR_APPS: app {name!r}: {exc}") from None
    if "://" not in url:
        raise NotConfigured(f"MONITOR_APPS: app {name!r}: {what} {url!r} is not a URL.")
    return url


def _queues(raw: Iterable[str] | str) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return tuple(dict.fromkeys(str(q).strip() for q in items if str(q).strip()))


def parse(text: str | None) -> list[MonitoredApp]:
    """MONITOR_APPS (module docstring) as `MonitoredApp`s, in order.

    Raises:
        NotConfigured: a bad entry, with what is wrong and where.
    """
    text = (text or "").strip()
    if not text:
        return []
    seen: set[str] = set()
    out: list[MonitoredApp] = []
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise NotConfigured(f"MONITOR_APPS is not valid JSON: {exc}") from None
        for item in items:
            if not isinstance(item, dict) or not item.get("name") or not item.get("broker"):
                raise NotConfigured(f"MONITOR_APPS: each JSON entry needs a name and a broker, got {item!r}.")
            name = _check_name(str(item["name"]), seen)
            backend = item.get("backend")
            out.append(MonitoredApp(name, _check_url(name, "broker", str(item["broker"])),
                                    _check_url(name, "result backend", str(backend)) if backend else None,
                                    _queues(item.get("queues") or ())))
        return out
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        name, eq, rest = entry.partition("=")
        if not eq or not rest.strip():
            raise NotConfigured(f"MONITOR_APPS: entry {entry!r} is not name=broker_url[|result_backend_url][|queues].")
        name = _check_name(name, seen)
        broker, *more = rest.split("|")
        if len(more) > 2:
            raise NotConfigured(f"MONITOR_APPS: app {name!r} has more than three |-separated parts.")
        backend, queues = None, ()
        for part in (p.strip() for p in more):
            if not part:
                continue
            if "://" in part:
                if backend is not None:
                    raise NotConfigured(f"MONITOR_APPS: app {name!r} has two result backends.")
                backend = _check_url(name, "result backend", part)
            else:
                queues = _queues(part)
        out.append(MonitoredApp(name, _check_url(name, "broker", broker), backend, queues))
    return out


class MonitoredApps:
    """The registry: every monitored app by name, the console's own first.

    Args:
        apps: the apps, the console's own (named `CONSOLE`) among them.
    """

    def __init__(self, apps: Iterable[MonitoredApp]):
        self._apps = {a.name: a for a in apps}
        if CONSOLE not in self._apps:
            raise NotConfigured("The monitored apps must include the console's own app.")

    @classmethod
    def from_settings(cls, settings, console_celery, console_queues: Iterable[str] = ()) -> "MonitoredApps":
        """The console's app (`console_celery`, on CELERY_BROKER_URL / CELERY_RESULT_BACKEND, with
        `console_queues`) plus MONITOR_APPS, or the MONITOR_BROKER_URL shorthand.

        Raises:
            NotConfigured: MONITOR_APPS is malformed.
        """
        own = MonitoredApp(CONSOLE, settings.broker_url, settings.result_backend, tuple(console_queues))
        own._celery = console_celery
        listed = parse(getattr(settings, "MONITOR_APPS", ""))
        if not listed and settings.MONITOR_BROKER_URL and settings.MONITOR_BROKER_URL != settings.broker_url:
            extra = tuple(q for q in settings.monitor_queues if q not in set(console_queues))
            listed = [MonitoredApp(SHORTHAND, settings.MONITOR_BROKER_URL, None, extra)]
        return cls([own, *listed])

    @property
    def names(self) -> list[str]:
        """App names, the console's first."""
        return list(self._apps)

    def __iter__(self):
        return iter(self._apps.values())

    def __len__(self) -> int:
        return len(self._apps)

    def get(self, name: str | None) -> MonitoredApp:
        """The app called `name` (None or "" is the console's own).

        Raises:
            InvalidInput: no app of that name is monitored.
        """
        key = name or CONSOLE
        if key not in self._apps:
            raise InvalidInput(f"No monitored app is called {key!r} (monitored: {', '.join(self._apps)}).")
        return self._apps[key]

    def celery(self, name: str | None):
        """The Celery app that talks to app `name`'s workers (`MonitoredApp.celery`)."""
        return self.get(name).celery

    def of_task(self, task: dict[str, Any] | None) -> MonitoredApp:
        """The app a history record (task or worker) belongs to: its ``app`` field, else the console's."""
        return self.get((task or {}).get("app") or CONSOLE)

    def sharing_broker(self) -> list[str]:
        """Names of monitored apps whose broker is the console's own broker (a warning at start)."""
        own = self._apps[CONSOLE].broker_url
        return [a.name for a in self if a.name != CONSOLE and a.broker_url == own]


def single(console_celery, broker_url: str = "", result_backend: str | None = None,
           queues: Iterable[str] = ()) -> MonitoredApps:
    """A registry holding only the console's app (`console_celery`): what callers that pass a bare
    Celery app get (`coerce`)."""
    conf = getattr(console_celery, "conf", None)
    own = MonitoredApp(CONSOLE, broker_url or (conf.broker_url if conf else "") or "",
                       result_backend or (conf.result_backend if conf else None), tuple(queues))
    own._celery = console_celery
    return MonitoredApps([own])


def coerce(apps_or_celery) -> MonitoredApps:
    """`apps_or_celery` as a registry: a `MonitoredApps` as is, a Celery app as the console's only app."""
    if isinstance(apps_or_celery, MonitoredApps):
        return apps_or_celery
    return single(apps_or_celery)


def add_to_plan(settings, p) -> None:
    """For `python -m app`'s process plan `p` (`app.launcher.processes.Plan`, changed in place):
    one line per monitored app in `p.notes` (the console's own broker first), a warning when a
    monitored app shares the console's broker, and one event ingester per app of MONITOR_APPS
    (``monitor_events_<name>``, beside the Procfile's ``monitor_events`` for the console's own app),
    each a program of its own so a dead one is restarted without stopping the others. A malformed
    MONITOR_APPS goes to `p.errors`."""
    import shlex

    safe_url = brokers.safe_url
    if p.env.get("REDIS_URL") and p.env["REDIS_URL"] != settings.REDIS_URL:
        # the Redis every process gets (the embedded one, unless REDIS_URL was set and answered)
        settings = settings.model_copy(update={"REDIS_URL": p.env["REDIS_URL"]})
    try:
        apps = MonitoredApps.from_settings(settings, None)
    except NotConfigured as exc:
        p.errors.append(str(exc))
        return
    p.notes.append(f"Celery: the console's own workers use broker {safe_url(settings.broker_url)} "
                   f"(results {safe_url(settings.result_backend)}); monitored app {CONSOLE!r}")
    listed = bool(settings.MONITOR_APPS.strip())
    for mon in apps:
        if mon.name == CONSOLE:
            continue
        program = f"monitor_events_{mon.name}" if listed else "monitor_events"
        p.notes.append(f"Monitoring app {mon.describe()} (events: {program})")
        if listed and "monitor_events" in p.processes:
            p.processes[program] = (f"exec python -m app.launcher.await_redis python -m app.monitor.events "
                                    f"--app {shlex.quote(mon.name)}")
    if listed and "monitor_events" in p.processes:
        p.processes["monitor_events"] += f" --app {CONSOLE}"
    for name in apps.sharing_broker():
        p.notes.append(f"Warning: monitored app {name!r} uses the console's own broker "
                       f"{safe_url(settings.broker_url)}: the console's workers take messages from its "
                       f"queues when the names match, and its revoke, rate-limit and pause broadcasts "
                       f"reach the console's workers too. Give the console its own broker "
                       f"(CELERY_BROKER_URL) or its own Redis database.")
