"""The Celery-event ingester: `python -m app.monitor.events --app NAME` (or `--broker URL`).

One ingester per monitored app (`app.monitor.apps`: ``--app`` takes its broker and result backend
from MONITOR_APPS): each task it records gets that app's name in its ``app`` field, each worker
too, and seen queues are kept per app.

Consumes the Celery events of any app on a broker with Celery's own `EventReceiver`
(``app.events.Receiver``; on kombu's virtual transports such as Redis its JSON messages are decoded
before kombu's per-message layers, `Ingester._install_fast_path`) and writes them into the same task
history the signal handlers write (`app.monitor.event_changes` maps an event to a store entry;
`app.monitor.event_writer.BatchWriter` sends them in large batches through the store's Lua write
path). Worker events (online / heartbeat / offline) become worker records
(`app.monitor.event_workers`), joined with the workers that report through the Redis heartbeat.

What happens when:
- the ingester is killed: what it had read but not yet written is lost (the writer's 50 ms linger,
  plus any backlog the writer had not caught up with).
  Events published while it is down are lost on a Redis broker (Celery sends events there by
  PUBLISH, a fan-out nobody stores: Flower loses them too); on AMQP brokers its event queue
  (``celeryev.<node id>``, durable, not auto-deleted) keeps them and they are read on restart
  (``--drop-queue`` removes it when the console stops monitoring that broker for good). On start the
  ingester reconciles: tasks the history still shows waiting or running are looked up in the
  monitored app's Redis result backend (``--result-backend``, default the broker when it is Redis)
  and those that finished meanwhile get their final state, result and traceback (`reconcile`).
- the broker goes away: the receiver reconnects with a growing pause (1 s doubling, at most 30 s).
- the history Redis goes away: writes of that moment are logged and dropped (as the signal path).
- workers run with events off: with ``--enable-events`` (MONITOR_ENABLE_EVENTS, on by default, as
  Flower does) the ingester broadcasts ``enable_events`` at start and every ENABLE_EVENTS_EVERY_S.
  task-sent events come only from publishers that set ``task_send_sent_event``.
"""
from __future__ import annotations

import argparse
import binascii
import json
import logging
import signal
import sys
import threading
import time
from typing import Any, Callable

from celery import Celery
from celery.utils.time import utcoffset

from app.monitor import event_changes, event_workers
from app.monitor.event_writer import BatchWriter, ProcessWriter
from app.store import history as history_store
from app.store import results
from app.store.states import STATE_TIME_FIELD
from app.store.clients import redis_from_url

log = logging.getLogger("app.monitor.events")

#: Receiver queue name is ``celeryev.<NODE_ID>`` (Celery's event_queue_prefix + node id).
NODE_ID = "celery-console-monitor"
ENABLE_EVENTS_EVERY_S = 30.0
#: How often the ingester reports its progress (`app.store.ingest`).
REPORT_EVERY_S = 2.0
RECONNECT_MAX_S = 30.0
#: How long to wait for a newly seen worker's active_queues / stats reply.
INSPECT_TIMEOUT_S = 2.0
#: Task ids whose name (and arguments) the ingester remembers, so later events of a task carry its
#: name (runtime histogram, name index) and task-received needs no second parse of the arguments.
NAMES_REMEMBERED = 200_000


def monitor_app(broker_url: str) -> Celery:
    """A bare Celery app on `broker_url` (no task modules): enough to receive events, send control
    commands and `send_task` by name to an app whose code the console cannot import."""
    app = Celery("console-monitor", broker=broker_url, set_as_current=False)
    app.conf.update(broker_connection_retry_on_startup=True, accept_content=["json"],
                    event_queue_durable=True, event_queue_exclusive=False)
    return app


class Ingester:
    """Receives events and hands their state changes to `write`.

    Args:
        app: Celery app on the monitored broker (`monitor_app`).
        history: redis.Redis of the history store (worker records and seen queues are written there).
        write: called with one store entry ``(task_id, state, fields, timestamp, kwargs)`` per task
            event (`event_changes.entry_for`; `IngestWriter.put` queues it on the ingester's writer).
        node_id: the receiver's node id; the queue ``celeryev.<node_id>`` outlives restarts.
        enable_events: broadcast ``enable_events`` at start and every ENABLE_EVENTS_EVERY_S.
        app_name: the monitored app's name (`app.monitor.apps`): written as the ``app`` field of
            each task (on its first event seen here) and worker, except for the console's own app
            (a record without one belongs to it). Queues this app paused are cancelled again on a
            worker that comes online consuming them (`app.monitor.queue_control.reapply`).
    """

    def __init__(self, app: Celery, history, write: Callable[[tuple], None], *,
                 node_id: str = NODE_ID, enable_events: bool = True, inspect_workers: bool = True,
                 app_name: str = "console"):
        self.app = app
        self.app_name = app_name
        self._tag = None if app_name == "console" else app_name
        self.history = history
        self.write = write
        self.node_id = node_id
        self.enable_events = enable_events
        self.inspect_workers = inspect_workers
        self.receiver = None
        self.should_stop = False
        self.events_seen = 0
        self.workers = event_workers.WorkerRecorder(history, app_name)
        self._known_hosts: set[str] = set()
        self._names: dict[str, str] = {}
        self._inspect_lock = threading.Lock()
        self._to_inspect: list[str] = []
        self.last_event_ts: Any = None

    # -- events --------------------------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        """Handle one event (any type). Never raises: a bad event is logged and skipped."""
        self.events_seen += 1
        self.last_event_ts = event.get("timestamp")
        kind = event.get("type", "")
        try:
            if kind.startswith("task-"):
                task_id = event.get("uuid")
                name = self._names.get(task_id)
                entry = event_changes.entry_for(event, with_arguments=name is None)
                if entry is not None:
                    kwargs = entry[4]
                    if name is None and self._tag:
                        entry[2]["app"] = self._tag
                    if "name" in kwargs:
                        if name is None:
                            self._remember(task_id, kwargs["name"])
                    elif name:
                        kwargs["name"] = name
                    self.write(entry)
                    queue = kwargs.get("queue")
                    if queue:
                        self.workers.saw_queue(queue)
            elif kind.startswith("worker-"):
                host = self.workers.on_event(event)
                if host and host not in self._known_hosts and kind != "worker-offline":
                    self._known_hosts.add(host)
                    self._inspect_later(host)
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the ingester
            log.warning("event %s skipped: %s", kind, exc)

    def _remember(self, task_id: str, name: str) -> None:
        names = self._names
        if len(names) >= NAMES_REMEMBERED:
            del names[next(iter(names))]  # oldest first (dicts keep insertion order)
        names[task_id] = name

    # -- worker details (queues, pool) by remote control ---------------------------------------
    def _inspect_later(self, host: str) -> None:
        if not self.inspect_workers:
            return
        with self._inspect_lock:
            self._to_inspect.append(host)
        threading.Thread(target=self._inspect_pending, name="inspect-workers", daemon=True).start()

    def _inspect_pending(self) -> None:
        with self._inspect_lock:
            hosts, self._to_inspect = self._to_inspect, []
        if not hosts:
            return
        try:
            inspect = self.app.control.inspect(destination=hosts, timeout=INSPECT_TIMEOUT_S)
            queues = inspect.active_queues() or {}
            stats = inspect.stats() or {}
            self.workers.on_inspect(queues, stats)
            unanswered = set(hosts) - set(queues)
            self._reapply_pauses(queues)
        except Exception as exc:  # noqa: BLE001 - details are optional
            log.info("inspect of %s failed: %s", hosts, exc)
            unanswered = set(hosts)
        with self._inspect_lock:  # asked again on their next heartbeat
            self._known_hosts.difference_update(unanswered)

    def _reapply_pauses(self, queues: dict[str, list]) -> None:
        """Cancel paused queues on newly seen workers that consume them (best effort: a worker may
        have taken a message before the command reaches it)."""
        if self.history is None:
            return
        from app.monitor import queue_control

        try:
            queue_control.reapply(self.app, self.history, self.app_name,
                                  {h: [q.get("name") for q in qs or [] if q.get("name")] for h, qs in queues.items()})
        except Exception as exc:  # noqa: BLE001 - retried on the next heartbeat-driven inspect
            log.warning("re-applying paused queues failed: %s", exc)

    def _enable_events_loop(self) -> None:
        while not self.should_stop:
            try:
                self.app.control.enable_events()
            except Exception as exc:  # noqa: BLE001
                log.warning("enable_events broadcast failed: %s", exc)
            for _ in range(int(ENABLE_EVENTS_EVERY_S * 10)):
                if self.should_stop:
                    return
                time.sleep(0.1)

    # -- main loop -----------------------------------------------------------------------------
    def _report_loop(self) -> None:
        """Every REPORT_EVERY_S: this app's ingest progress (`app.store.ingest`), for the pages."""
        from app.store import ingest

        while not self.should_stop:
            ts = self.last_event_ts
            try:
                ingest.report(self.history, self.app_name, time.time(),
                              ts if isinstance(ts, (int, float)) else None, self.events_seen)
            except Exception as exc:  # noqa: BLE001 - a report is best effort
                log.info("ingest progress not written: %s", exc)
            for _ in range(int(REPORT_EVERY_S * 10)):
                if self.should_stop:
                    return
                time.sleep(0.1)

    def run(self, ready: Callable[[], None] | None = None) -> None:
        """Capture events until `stop`; reconnects on broker errors."""
        if self.history is not None:
            threading.Thread(target=self._report_loop, name="ingest-report", daemon=True).start()
        if self.enable_events:
            threading.Thread(target=self._enable_events_loop, name="enable-events", daemon=True).start()
        pause_s = 1.0
        while not self.should_stop:
            try:
                with self.app.connection_for_read() as conn:
                    conn.ensure_connection(max_retries=1)
                    self.receiver = self.app.events.Receiver(
                        conn, handlers={"*": self.on_event}, node_id=self.node_id,
                        queue_durable=True, queue_exclusive=False)
                    self.receiver.should_stop = self.should_stop
                    log.info("capturing events on %s (queue %s)", conn.as_uri(), self.receiver.queue.name)
                    pause_s = 1.0
                    self.receiver.on_consume_ready = _both(self._install_fast_path, self.receiver.on_consume_ready)
                    if ready is not None:
                        self.receiver.on_consume_ready = _then(self.receiver.on_consume_ready, ready)
                    for _ in self.receiver.consume(limit=None, timeout=None, wakeup=True):
                        if self.should_stop:
                            break
            except Exception as exc:  # noqa: BLE001 - keep monitoring through broker restarts
                if self.should_stop:
                    break
                log.error("event capture failed: %s; reconnecting in %.0f s", exc, pause_s)
                time.sleep(pause_s)
                pause_s = min(pause_s * 2, RECONNECT_MAX_S)

    def _install_fast_path(self, connection, channel, consumers, **_kwargs) -> None:
        """On kombu's virtual transports (Redis, SQS, ...), take the event queue's raw messages
        before kombu wraps each in a Message and a Consumer decodes it: a JSON body is decoded here
        and its events (a worker sends lists of them) go to `on_event` with their timestamp
        localised as `EventReceiver.event_from_message` does (``timestamp - (utcoffset - here) *
        3600``, celery.utils.time.adjust_timestamp; the local offset read once per message). The
        Lamport clock and ``local_received`` are not kept: the history orders by timestamps.
        Anything else (another content type, compression, a body that does not decode) takes
        kombu's own path. Measured: about a third less CPU per event (bench/bench_events.py).
        AMQP transports keep the receiver's path."""
        callbacks = getattr(getattr(channel, "connection", None), "_callbacks", None)
        name = self.receiver.queue.name
        if not isinstance(callbacks, dict) or name not in callbacks:
            return
        kombu_path = callbacks[name]
        b64decode, loads = binascii.a2b_base64, json.loads  # what base64.b64decode calls

        def deliver(raw: dict):
            try:
                if raw.get("content-type") != "application/json" or \
                        raw.get("content-encoding", "utf-8") != "utf-8" or (raw.get("headers") or {}).get("compression"):
                    return kombu_path(raw)
                body = raw["body"]
                if (raw.get("properties") or {}).get("body_encoding") == "base64":
                    body = b64decode(body)
                decoded = loads(body)
            except (KeyError, TypeError, ValueError, binascii.Error):
                return kombu_path(raw)
            handle, here = self.on_event, utcoffset()
            for event in decoded if isinstance(decoded, list) else (decoded,):
                if not isinstance(event, dict):
                    continue
                try:
                    event["timestamp"] = event["timestamp"] - (event["utcoffset"] - here) * 3600
                except (KeyError, TypeError):
                    pass
                handle(event)

        callbacks[name] = deliver

    def stop(self) -> None:
        self.should_stop = True
        if self.receiver is not None:
            self.receiver.should_stop = True

    def drop_queue(self) -> None:
        """Delete this ingester's event queue from the broker (events stop queuing for it)."""
        with self.app.connection_for_write() as conn:
            recv = self.app.events.Receiver(conn, node_id=self.node_id, queue_durable=True,
                                            queue_exclusive=False)
            recv.queue(conn.default_channel).delete()


RECONCILE_MAX_TASKS = 10_000
_RESULT_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


def _done_at(meta: dict[str, Any]) -> float | None:
    from datetime import datetime, timezone

    raw = meta.get("date_done")
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def reconcile(history, backend, write: Callable[[dict[str, Any]], None],
              max_tasks: int = RECONCILE_MAX_TASKS) -> int:
    """Give tasks the history shows as waiting or running the final state their result holds.

    Looks at the newest `max_tasks` ids of each active state index (SENT, RECEIVED, STARTED,
    PROGRESS, RETRY) in `history` and reads their Celery result records from `backend` (a client on
    the monitored app's Redis result backend; `app.store.results`); each finished one is written as a change at
    its ``date_done`` (the store's ordering keeps any newer state). Returns how many were written.
    Tasks published and finished entirely while the ingester was down are not found (that would
    need a scan of every result key).
    """
    import json

    ids: list[str] = []
    for state in ("SENT", "RECEIVED", "STARTED", "PROGRESS", "RETRY"):
        ids.extend(history_store.newest_in_state(history, state, max_tasks))
    written = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for task_id, raw in zip(chunk, results.metas(backend, chunk)):
            if not raw:
                continue
            try:
                meta = json.loads(raw)
            except ValueError:
                continue
            status, at = meta.get("status"), _done_at(meta)
            if status not in _RESULT_STATES or at is None:
                continue
            change: dict[str, Any] = {"task_id": task_id, "state": status, "timestamp": at,
                                      "info": "from the result backend", "source": "events"}
            if meta.get("name"):
                change["name"] = str(meta["name"])
            if meta.get("worker"):
                change["worker"] = str(meta["worker"])
            if status == "SUCCESS":
                change["result"] = event_changes.mask_repr(repr(meta.get("result")))[:event_changes.RESULT_MAX_CHARS]
            elif status == "FAILURE":
                exc = meta.get("result") or {}
                if isinstance(exc, dict) and exc.get("exc_type"):
                    change["exception"] = event_changes.mask_repr(
                        f"{exc.get('exc_type')}: {' '.join(map(str, exc.get('exc_message') or []))}")[:2_000]
                if meta.get("traceback"):
                    change["traceback"] = event_changes.mask_repr(str(meta["traceback"]))[-event_changes.TRACEBACK_MAX_CHARS:]
            write(change)
            written += 1
    return written


def _both(first: Callable, second: Callable) -> Callable:
    def both(*args, **kwargs):
        first(*args, **kwargs)
        second(*args, **kwargs)
    return both


def _then(first: Callable, second: Callable[[], None]) -> Callable:
    def both(*args, **kwargs):
        first(*args, **kwargs)
        second()
    return both


class IngestWriter:
    """The ingester's history writer: a `ProcessWriter` (a child process does the encoding and
    script calls; the default) or, with `writer_process=False`, a `BatchWriter` (a thread of this
    process), pointed at the console's Redis (`settings.result_backend`). One per ingester process,
    built by `main` (or a benchmark) and closed by it."""

    def __init__(self, settings, writer_process: bool = True) -> None:
        url = settings.result_backend
        self.writer: BatchWriter | ProcessWriter = (
            ProcessWriter(url, settings.HISTORY_RETENTION_S, settings.HISTORY_MAX_TASKS) if writer_process
            else BatchWriter(lambda: redis_from_url(url)))

    def put(self, entry: tuple) -> None:
        """Queue one store entry (`event_changes.entry_for`)."""
        self.writer.put(entry)

    def write_change(self, change: dict[str, Any]) -> None:
        """Queue one state change given as the keyword arguments of `app.store.writer.StateChange`
        (e.g. from `reconcile`): the same Lua write path the signal handlers use, without building
        the dataclass."""
        c = dict(change)
        task_id, state, now = c.pop("task_id"), c.pop("state"), c.pop("timestamp")
        name, queue, worker = c.pop("name", None), c.pop("queue", None), c.pop("worker", None)
        parent_id, info, source = c.get("parent_id"), c.pop("info", None), c.pop("source", "events")
        fields = c.pop("fields", None) or {}
        at_field = STATE_TIME_FIELD.get(state)
        if at_field:
            c.setdefault(at_field, now)
        c.update(fields)
        args, kwargs = c.get("args"), c.get("kwargs")
        search = (f"{args} {kwargs}" if kwargs else args) if args else kwargs
        self.put((task_id, state, c, now, dict(name=name, queue=queue, worker=worker, search_text=search,
                                               parent_id=parent_id, info=info, source=source)))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Send what the writer holds; True when nothing is left."""
        return self.writer.flush(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        self.writer.close(timeout_s=timeout_s)


def _resolve_app(args, settings) -> tuple[str, str | None]:
    """Fill ``args.broker`` from ``--app`` (or MONITOR_BROKER_URL / the console's broker); returns
    (the app's name, its result backend URL or None). Raises NotConfigured for an unknown app."""
    from app.errors import NotConfigured
    from app.monitor.apps import CONSOLE, SHORTHAND, parse

    if args.app and args.app != CONSOLE:
        listed = {a.name: a for a in parse(getattr(settings, "MONITOR_APPS", ""))}
        if args.app not in listed and args.app == SHORTHAND and settings.MONITOR_BROKER_URL:
            args.broker = args.broker or settings.MONITOR_BROKER_URL
            return SHORTHAND, None
        if args.app not in listed:
            raise NotConfigured(f"--app {args.app!r} is not in MONITOR_APPS ({', '.join(listed) or 'empty'}).")
        mon = listed[args.app]
        args.broker = args.broker or mon.broker_url
        return mon.name, mon.result_backend
    if args.app == CONSOLE:
        args.broker = args.broker or settings.broker_url
        return CONSOLE, None
    args.broker = args.broker or settings.monitor_broker_url
    return (CONSOLE if args.broker == settings.broker_url else SHORTHAND), None


def main(argv: list[str] | None = None) -> int:
    from config.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m app.monitor.events",
                                     description="Record the Celery events of any app into the console's history.")
    parser.add_argument("--app", default=None,
                        help="name of a monitored app (MONITOR_APPS, or 'console'): its broker, result backend "
                             "and name (the history's app field) come from the settings")
    parser.add_argument("--broker", default=None,
                        help="broker URL of the monitored app (default MONITOR_BROKER_URL, else the console's broker)")
    parser.add_argument("--enable-events", action=argparse.BooleanOptionalAction,
                        default=settings.MONITOR_ENABLE_EVENTS,
                        help="broadcast enable_events to running workers at start and every 30 s (as Flower does)")
    parser.add_argument("--node-id", default=None,
                        help="receiver node id; the event queue is celeryev.<node id> (default "
                             f"{NODE_ID}, plus -<app> for an app other than the console's)")
    parser.add_argument("--result-backend", default=None,
                        help="Redis result backend of the monitored app, read once at start to settle tasks "
                             "that finished while the ingester was down (default: the broker when it is Redis)")
    parser.add_argument("--drop-queue", action="store_true", help="delete the event queue on the broker and exit")
    parser.add_argument("--writer-process", action=argparse.BooleanOptionalAction, default=True,
                        help="write the history from a second process (default; uses a second core), "
                             "else from a thread of this one")
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app_name, backend_default = _resolve_app(args, settings)
    node_id = args.node_id or (NODE_ID if app_name == "console" else f"{NODE_ID}-{app_name}")
    args.node_id = node_id
    app = monitor_app(args.broker)
    if args.drop_queue:
        Ingester(app, None, lambda entry: None, node_id=args.node_id, enable_events=False).drop_queue()
        print(f"dropped event queue celeryev.{args.node_id}")
        return 0
    store = IngestWriter(settings, writer_process=args.writer_process)
    ingester = Ingester(app, redis_from_url(settings.result_backend), store.put, node_id=args.node_id,
                        enable_events=args.enable_events, app_name=app_name)

    def _stop(signum, _frame):
        log.info("signal %s: stopping", signum)
        ingester.stop()

    writer_lost = []

    def _writer_lost():
        writer_lost.append(True)
        log.error("history writer process lost: stopping (exit status 1, to be restarted)")
        ingester.stop()

    if isinstance(store.writer, ProcessWriter):
        store.writer.on_exit = _writer_lost

    backend_url = args.result_backend or backend_default or (args.broker if args.broker.startswith(("redis://", "rediss://", "unix://")) else None)
    if backend_url:
        try:
            settled = reconcile(ingester.history, redis_from_url(backend_url), store.write_change)
            log.info("reconciled %d task(s) from the result backend", settled)
        except Exception as exc:  # noqa: BLE001 - reconciling is best effort
            log.warning("reconcile from the result backend failed: %s", exc)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        ingester.run(ready=lambda: log.info("ready"))
    finally:
        store.close(timeout_s=30.0)
    return 1 if writer_lost else 0


if __name__ == "__main__":
    sys.exit(main())
