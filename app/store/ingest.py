"""How far each monitored app's event ingester is (``cc:ingest:<app>``, a hash: ``at`` epoch s of
the report, ``event_ts`` the timestamp of the last event it read, ``events`` read since it started;
expires INGEST_TTL_S after the last report, so a stopped ingester's record goes away). Written by
`app.monitor.events.Ingester` every few seconds, read by the pages."""
from __future__ import annotations

from app.store import keys

INGEST_TTL_S = 300


def report(client, app: str, at: float, event_ts: float | None, events: int) -> None:
    """Record ingester progress of `app` (one pipelined round trip)."""
    fields = {"at": repr(float(at)), "events": int(events)}
    if event_ts is not None:
        fields["event_ts"] = repr(float(event_ts))
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.ingest(app), mapping=fields)
    pipe.expire(keys.ingest(app), INGEST_TTL_S)
    pipe.execute()


def progress(client, apps: list[str]) -> dict[str, dict[str, float]]:
    """App -> ``{at, event_ts?, events}`` for the apps whose ingester reported recently (one round trip).

    Raises:
        StoreError: Redis cannot be reached.
    """
    pipe = client.pipeline(transaction=False)
    for app in apps:
        pipe.hgetall(keys.ingest(app))
    return {app: {k: float(v) for k, v in raw.items()} for app, raw in zip(apps, pipe.execute()) if raw}
