"""``./celery_worker.sh check``: the settings a worker host runs with, and whether it reaches them.

A worker host needs only: the broker (CELERY_BROKER_URL, else REDIS_URL), Redis for results and the
console's store (REDIS_URL), the file store (FILE_STORE=s3 with S3_* when it shares no disk with the
console), plus SMTP_* for the email group and the AI keys for the ai group. Prints one line per
check (passwords hidden) and exits 1 when the broker, Redis or the file store cannot be reached.
"""
from __future__ import annotations

import sys

from app.monitor import brokers
from config.settings import get_settings


def checks(settings) -> list[tuple[str, bool, str]]:
    """[(name, ok, detail)] for broker, redis, file store; the optional services as notes."""
    from app.files import filestore
    from app.store import server
    from app.store.clients import redis_from_url

    out: list[tuple[str, bool, str]] = []
    try:
        broker = brokers.for_settings(settings)
        try:
            broker.ping()
            out.append(("broker", True, f"{broker.kind} at {broker.display_url}"))
        finally:
            broker.close()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out.append(("broker", False, f"{brokers.safe_url(settings.broker_url)}: {exc}"))
    try:
        client = redis_from_url(settings.result_backend)
        try:
            server.ping_ms(client)
        finally:
            client.close()
        out.append(("redis", True, f"results and store at {brokers.safe_url(settings.result_backend)}"))
    except Exception as exc:  # noqa: BLE001
        out.append(("redis", False, f"{brokers.safe_url(settings.result_backend)}: {exc}"))
    try:
        store = filestore.from_settings(settings)
        if store.kind == "s3":
            store.client.head_bucket(Bucket=store.bucket)
            out.append(("file store", True, f"s3://{store.bucket}/{store.prefix} at {settings.S3_ENDPOINT_URL or 'AWS'}"))
        else:
            settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
            out.append(("file store", True, f"local {settings.DATA_DIR.resolve()} (a worker on another host needs "
                                            "FILE_STORE=s3, or this folder shared with the console)"))
    except Exception as exc:  # noqa: BLE001
        out.append(("file store", False, f"{settings.FILE_STORE}: {exc}"))
    out.append(("smtp", True, f"{settings.SMTP_HOST}:{settings.SMTP_PORT}" if settings.SMTP_HOST
                else "SMTP_HOST unset (only the email group needs it)"))
    ai = [n for n in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY") if getattr(settings, n)]
    out.append(("ai", True, ", ".join(ai) + " set" if ai else "no AI key set (only the ai group needs one)"))
    return out


def main() -> int:
    results = checks(get_settings())
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name:<10} {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
