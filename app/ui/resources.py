"""The clients the Streamlit pages use: the Celery app of the process runtime (`app.runtime`), the
Redis client and the monitored broker (`st.cache_resource`), and the Redis-down banner."""
from __future__ import annotations

import streamlit as st

from app.store.clients import STORE_DOWN, Client, redis_from_url
from config.settings import Settings, get_settings


def settings() -> Settings:
    return get_settings()


@st.cache_resource(show_spinner=False)
def _redis(url: str) -> Client:
    return redis_from_url(url)


def redis_client() -> Client:
    """The console's Redis client (result backend / history database) for the settings as they
    are now (one per URL and server process)."""
    return _redis(get_settings().result_backend)


@st.cache_resource(show_spinner=False)
def _broker(url: str, management_url: str | None, priority_steps: tuple[int, ...] | None = None):
    from app.monitor import brokers

    return brokers.from_url(url, management_url, priority_steps)


def broker_client():
    """The monitored broker (`app.monitor.brokers.Broker`: Redis lists or RabbitMQ queues):
    MONITOR_BROKER_URL, which defaults to the console's own broker (then counted with the priority
    steps the console's Celery app publishes with)."""
    from app import priority

    s = get_settings()
    mgmt = s.RABBITMQ_MANAGEMENT_URL
    steps = priority.redis_steps(celery()) if s.monitor_broker_url == s.broker_url else None
    return _broker(s.monitor_broker_url, mgmt.get_secret_value() if mgmt else None, steps)


def celery():
    """The console's Celery app, this process's `app.runtime` one (the task modules imported, so
    its registry holds every task)."""
    from app import runtime

    app = runtime.get().celery
    app.loader.import_default_modules()
    return app


#: While Redis is away, the banner page checks it this often and comes back by itself.
REDIS_RETRY_S = 2


def redis_ok_or_banner() -> bool:
    """Ping Redis; on failure show a clear banner (never a traceback) and return False.

    The banner page keeps checking every REDIS_RETRY_S and reruns itself once Redis answers, so the
    page recovers without a reload.
    """
    try:
        redis_client().ping()
        return True
    except STORE_DOWN as exc:
        st.error(f"Redis is unreachable at {_safe_url(get_settings().result_backend)} — "
                 f"start it or set REDIS_URL. ({type(exc).__name__}: {exc}) This page checks again every "
                 f"{REDIS_RETRY_S} s and comes back by itself.", icon=":material/error:")
        _reload_when_redis_answers()
        return False


def redis_down_banner(exc: BaseException) -> None:
    """The banner for Redis failing in the middle of a page (after `redis_ok_or_banner` passed)."""
    st.error(f"Redis stopped answering: {exc}", icon=":material/error:")


@st.fragment(run_every=REDIS_RETRY_S)
def _reload_when_redis_answers() -> None:
    try:
        redis_client().ping()
    except STORE_DOWN:
        return
    st.rerun(scope="app")


def _safe_url(url: str) -> str:
    """The URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
