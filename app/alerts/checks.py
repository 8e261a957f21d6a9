"""One check per rule kind: which subjects (task names, queues, workers, entries) breach it now.

Checks read through a `Context`, which loads each kind of data at most once per evaluation and only
when a rule needs it (workers from their heartbeats, queue lengths from the broker, the per-minute
failure counters, runtime histograms, schedule health, INFO memory). So an evaluation of any number
of rules costs a fixed handful of pipelined round trips, and nothing reads the task list: the cost
does not grow with the history.

A check returns ``{subject: detail}`` for the subjects breaching now (before the rule's ``for_s``,
which `app.alerts.engine` applies).
"""
from __future__ import annotations

from types import MappingProxyType
import logging
import time
from fnmatch import fnmatchcase
from typing import Any

from app.errors import BrokerUnavailable
from app.monitor import brokers, workers
from app.monitor.queues import QueueDetail
from app.store import history, pauses, rates, server
from app.store import workers as worker_store
from app.store.histogram import RUNTIME_BUCKETS_S

log = logging.getLogger(__name__)
RUNTIME_QUANTILE = 0.95
#: Histogram snapshots a runtime_p95 rule keeps per window (so the window moves in 5 % steps).
SNAPSHOTS_PER_WINDOW = 20


class Context:
    """What the checks read, loaded lazily once per evaluation.

    Args:
        client: redis.Redis (decode_responses=True) on the history database.
        broker: the broker (`app.monitor.brokers.Broker`, or a redis.Redis on the broker database).
        queue_names: the queues to watch (declared ones plus any a rule names).
        offline_after_s: heartbeat age after which a worker is offline.
        app: the Celery app (schedule rules read RedBeat through it); None skips them.
        now: evaluation time, epoch seconds.
        apps: the monitored apps (`app.monitor.apps.MonitoredApps`); the queues of each app other
            than the console's are watched too, on that app's broker, as subjects named
            ``<app>:<queue>`` (so a rule's ``queue`` pattern "billing:*" targets app billing).
    """

    def __init__(self, client, broker, queue_names, offline_after_s: float, app=None,
                 now: float | None = None, apps=None):
        self.client, self.broker, self.app, self.apps = client, broker, app, apps
        self.queue_names = list(dict.fromkeys(queue_names))
        self.offline_after_s = offline_after_s
        self.now = time.time() if now is None else now
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, load):
        if name not in self._cache:
            self._cache[name] = load()
        return self._cache[name]

    def workers(self) -> list[workers.WorkerInfo]:
        return self._once("workers", lambda: workers.list_workers(self.client, self.offline_after_s, now=self.now))

    def queues(self) -> dict[str, QueueDetail]:
        def load():
            consumers = workers.consumers_by_queue(self.workers())
            from app.monitor import app_queues, latency

            own = brokers.coerce(self.broker).details(self.queue_names, consumers, now=self.now)
            out = {d.name: d for d in latency.fill(self.client, "console", own, self.now)}
            for mon in self.apps or ():
                if mon.name == "console":
                    continue
                try:
                    found = app_queues.details(self.client, mon, self.workers(), now=self.now)
                except BrokerUnavailable as exc:  # one app's broker down must not blind the others
                    log.warning("queues of app %s not read: %s", mon.name, exc)
                    continue
                for d in found:
                    out[f"{mon.name}:{d.name}"] = d
            return out
        return self._once("queues", load)

    def rate_counts(self, window_s: int) -> dict[str, int]:
        """Finished/failed counts summed over the last `window_s` (whole UTC minutes, this one
        included): ``{'T|n|<name>': n, 'F|n|<name>': n, 'T|q|<queue>': n, ...}``. Summed once
        per window length and evaluation (rules sharing a window share the sums; do not change
        the returned dict)."""
        minutes = max(1, int(window_s // 60))
        sums = self._cache.setdefault("rate_sums", {})
        if minutes not in sums:
            all_minutes = self._once("rate_minutes", lambda: self._load_minutes(60))
            total: dict[str, int] = {}
            for per_minute in all_minutes[-minutes:]:
                for k, v in per_minute.items():
                    total[k] = total.get(k, 0) + int(v)
            sums[minutes] = total
        return sums[minutes]

    def _load_minutes(self, n: int) -> list[dict[str, str]]:
        return rates.last_minutes(self.client, n, self.now)

    def histograms(self, names: list[str]) -> dict[str, dict[str, float]]:
        cached = self._cache.setdefault("hist", {})
        missing = [n for n in names if n not in cached]
        for n, raw in history.runtime_histograms(self.client, missing).items():
            cached[n] = {b: float(c) for b, c in raw.items()}
        return {n: cached[n] for n in names}

    def task_names(self) -> list[str]:
        return self._once("names", lambda: history.task_names(self.client))

    def schedule_health(self, grace_s: float):
        from app.monitor import schedule_health

        cached = self._cache.setdefault("sched", {})
        if grace_s not in cached:
            cached[grace_s] = schedule_health.check(self.app, self.client, grace_s, now=self.now,
                                                    entries=self._once("entries", self._entries))
        return cached[grace_s]

    def _entries(self):
        from app import schedules

        return schedules.list_entries(self.app)

    def paused(self) -> set[str]:
        def load() -> set[str]:
            names = set(pauses.names(self.client))
            for mon in self.apps or ():
                if mon.name != "console":
                    names |= {f"{mon.name}:{q}" for q in pauses.names(self.client, mon.name)}
            return names
        return self._once("paused", load)

    def memory(self) -> dict[str, Any]:
        return self._once("memory", lambda: server.memory(self.client))


def _match(pattern: str, names) -> list[str]:
    return [n for n in names if fnmatchcase(n, pattern)]


def failure_rate(ctx: Context, p: dict) -> dict[str, str]:
    counts = ctx.rate_counts(p["window_s"])
    tag = "n" if p["scope"] == "task" else "q"
    subjects = {k.split("|", 2)[2] for k in counts if k.startswith(f"T|{tag}|")}
    out = {}
    for s in _match(p["target"], subjects):
        total, failed = counts.get(f"T|{tag}|{s}", 0), counts.get(f"F|{tag}|{s}", 0)
        if total >= p["min_runs"] and failed * 100.0 > p["threshold_pct"] * total:
            out[s] = f"{failed} of {total} runs failed ({100.0 * failed / total:.0f} %) in {p['window_s']} s"
    return out


def queue_depth(ctx: Context, p: dict) -> dict[str, str]:
    return {q: f"{d.ready} messages ready (> {p['threshold']})" for q, d in ctx.queues().items()
            if fnmatchcase(q, p["queue"]) and d.ready > p["threshold"]}


def queue_age(ctx: Context, p: dict) -> dict[str, str]:
    return {q: f"oldest message waiting {'at least ' if d.latency_lower_bound else ''}{d.latency_s:.0f} s "
               f"(> {p['threshold_s']:g} s)"
            for q, d in ctx.queues().items()
            if fnmatchcase(q, p["queue"]) and d.latency_s is not None and d.latency_s > p["threshold_s"]}


def no_consumer(ctx: Context, p: dict) -> dict[str, str]:
    """Paused queues (`app.monitor.queue_control`) are left out: nobody consumes them on purpose."""
    paused = ctx.paused()
    return {q: f"{d.ready} messages waiting and no online worker consumes it"
            for q, d in ctx.queues().items() if fnmatchcase(q, p["queue"]) and d.stuck and q not in paused}


#: Workers whose last heartbeat is older than this are forgotten by the offline rule (a node
#: name that was retired long ago should not alert forever).
WORKER_FORGET_AFTER_S = 86_400


def _group_of(hostname: str) -> str:
    """``files.ab12cd34@host`` -> ``files@host``: node names are unique per start
    (celery_worker.sh adds a start id), the group and host stay."""
    name, _, host = hostname.partition("@")
    return f"{name.split('.', 1)[0]}@{host}"


def worker_offline(ctx: Context, p: dict) -> dict[str, str]:
    """A worker restarted under a new node name (same group and host, online now) has replaced the
    silent one: that is not alerted."""
    out = {}
    online_groups = {_group_of(w.hostname) for w in ctx.workers() if w.online}
    for w in ctx.workers():
        if w.online or not fnmatchcase(w.hostname, p["worker"]) or _group_of(w.hostname) in online_groups:
            continue
        signed_off = w.last_heartbeat and ctx.client is not None and _signed_off(ctx, w)
        age_s = ctx.now - w.last_heartbeat if w.last_heartbeat else None
        if age_s is not None and age_s > WORKER_FORGET_AFTER_S:
            continue
        if signed_off and not p.get("include_signed_off"):
            continue
        out[w.hostname] = ("signed off" if signed_off else "no heartbeat") + (
            f" for {age_s:.0f} s" if age_s is not None else "")
    return out


def _signed_off(ctx: Context, w) -> bool:
    status = ctx._cache.setdefault("wstatus", {})
    if w.hostname not in status:
        status[w.hostname] = worker_store.heartbeat_status(ctx.client, w.hostname) == "offline"
    return status[w.hostname]


def quantile_of(buckets: dict[str, float], q: float) -> float | None:
    """The `q` quantile (upper bound of its bucket, as Prometheus' histogram_quantile without
    interpolation) of a runtime histogram ``{bound: count}``; None when it is empty."""
    pairs = sorted((float(b), c) for b, c in buckets.items() if b != "sum" and c > 0)
    total = sum(c for _, c in pairs)
    if not total:
        return None
    finite_max = max(b for b in RUNTIME_BUCKETS_S if b != float("inf"))
    seen = 0.0
    for bound, c in pairs:
        seen += c
        if seen >= q * total:
            return bound if bound != float("inf") else finite_max
    return finite_max


def runtime_p95(ctx: Context, p: dict, state: dict) -> dict[str, str]:
    """Windowed p95: the histogram now minus the oldest snapshot younger than the window (kept in
    the rule's `state['snaps']`, one per window/20 at most), so only runs finished in the window
    count (to within 5 % of the window)."""
    names = _match(p["task"], ctx.task_names())
    hists = ctx.histograms(names)
    snaps = [s for s in state.get("snaps", []) if ctx.now - s["at"] <= p["window_s"]]
    # at most SNAPSHOTS_PER_WINDOW kept, however often rules are evaluated: a bounded state
    if not snaps or ctx.now - snaps[-1]["at"] >= p["window_s"] / SNAPSHOTS_PER_WINDOW:
        snaps.append({"at": ctx.now, "h": {n: h for n, h in hists.items() if h}})
    state["snaps"] = snaps
    if snaps[0]["at"] >= ctx.now:
        return {}  # first look at this window: no earlier snapshot to count from yet
    base = snaps[0]["h"]
    out = {}
    for n, h in hists.items():
        old = base.get(n, {})
        delta = {b: c - old.get(b, 0.0) for b, c in h.items() if b != "sum"}
        runs = sum(delta.values())
        if runs < p["min_runs"]:
            continue
        p95 = quantile_of(delta, RUNTIME_QUANTILE)
        if p95 is not None and p95 > p["threshold_s"]:
            out[n] = f"p95 runtime <= {p95:g} s bucket over {runs:.0f} runs (> {p['threshold_s']:g} s)"
    return out


def schedule_missed(ctx: Context, p: dict) -> dict[str, str]:
    if ctx.app is None:
        return {}
    wanted = {"missed"} | ({"late"} if p.get("include_late") else set()) | (
        {"failing"} if p.get("include_failing") else set())
    return {name: f"{h.status}: {h.detail}" for name, h in ctx.schedule_health(p["grace_s"]).items()
            if fnmatchcase(name, p["entry"]) and h.status in wanted}


def redis_memory(ctx: Context, p: dict) -> dict[str, str]:
    info = ctx.memory()
    used, limit = int(info.get("used_memory") or 0), int(info.get("maxmemory") or 0)
    if limit and used > p["fraction"] * limit:
        return {"redis": f"{used / 2**20:.0f} MB used of {limit / 2**20:.0f} MB maxmemory "
                         f"({used / limit:.0%} > {p['fraction']:.0%})"}
    return {}


CHECKS = MappingProxyType({"failure_rate": failure_rate, "queue_depth": queue_depth, "queue_age": queue_age,
          "no_consumer": no_consumer, "worker_offline": worker_offline, "runtime_p95": runtime_p95,
          "schedule_missed": schedule_missed, "redis_memory": redis_memory})
STATEFUL = frozenset({"runtime_p95"})
