"""Broker fixtures: the same monitor tests on Redis and on RabbitMQ (fixture params).

RabbitMQ: RABBITMQ_URL (and RABBITMQ_MANAGEMENT_URL) when given; otherwise the test session starts
its own node (`app.launcher.rabbitmq_server`: own node name, ports and data dir) once, the first
time a test asks for it. Neither available is a test failure, not a skip.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_for

BROKER_KINDS = ["redis", "amqp", "amqp+management"]


@dataclass
class RabbitEndpoint:
    amqp_url: str
    management_url: str | None


@pytest.fixture(scope="session")
def rabbitmq():
    """A RabbitMQ to test against: RABBITMQ_URL if set, else a private node started here."""
    from app.launcher import rabbitmq_server

    if os.environ.get("RABBITMQ_URL"):
        yield RabbitEndpoint(os.environ["RABBITMQ_URL"], os.environ.get("RABBITMQ_MANAGEMENT_URL"))
        return
    if not rabbitmq_server.server_script():
        pytest.fail("RabbitMQ tests need rabbitmq-server installed (apt-get install rabbitmq-server; "
                    ".ci/run does it) or RABBITMQ_URL pointing at a node")
    base = Path(tempfile.mkdtemp(prefix="console-rabbit-"))
    node = rabbitmq_server.start(base, bind="0.0.0.0", stats_interval_ms=500)
    try:
        yield RabbitEndpoint(node.amqp_url, node.management_url)
    finally:
        node.stop(graceful=False)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class BrokerEnv:
    """One broker under test: a Celery `app` publishing to it, the monitor's `broker`, the URL a
    worker subprocess needs (`env`) and the name of a worker consuming every queue on it."""

    kind: str
    app: object
    broker: object
    env: dict = field(default_factory=dict)
    worker_hostname: str = ""


def amqp_app(celery_app, amqp_url: str):
    """A publishing Celery app like `config.celery_config.celery_app`, on `amqp_url`."""
    from celery import Celery

    app = Celery("console", set_as_current=False)
    app.conf.update({k: v for k, v in celery_app.conf.changes.items() if k not in ("broker_url",)})
    app.conf.broker_url = amqp_url
    app.conf.result_backend = celery_app.conf.result_backend
    return app


def start_worker_process(env: dict, queues: str, name: str, cwd: Path = ROOT, pool: str = "threads",
                         concurrency: int = 4, log_path: Path | None = None,
                         prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    """`celery worker` as a subprocess in its own process group (stop with `stop_process`);
    `prefix` runs it through another command (``ip netns exec <ns>``)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen([*prefix, sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "-P", pool,
                             "-c", str(concurrency), "-Q", queues, "-n", f"{name}@%h", "--without-mingle",
                             "--without-gossip", "--loglevel", "WARNING"],
                            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen, timeout_s: float = 30) -> None:
    import signal

    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def amqp_worker(rabbitmq, redis_url, data_dir):
    """A worker subprocess on the RabbitMQ broker consuming the five queues (session, lazily)."""
    from app.store import keys
    from app.store.clients import redis_from_url
    from config.celery_settings import QUEUES

    name = f"amqp{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, CELERY_BROKER_URL=rabbitmq.amqp_url, REDIS_URL=redis_url, DATA_DIR=str(data_dir))
    proc = start_worker_process(env, ",".join(QUEUES), name, log_path=Path(data_dir) / f"{name}.log")
    client = redis_from_url(redis_url)
    try:
        host = wait_for(lambda: proc.poll() is None and next(
            (h for h in client.zrange(keys.WORKERS, 0, -1) if h.startswith(f"{name}@")), None), timeout_s=90)
        yield host
    finally:
        client.close()
        stop_process(proc)


@pytest.fixture(params=BROKER_KINDS)
def broker_env(request, celery_app, redis_url):
    """The same test on each broker: Redis, RabbitMQ over AMQP only, RabbitMQ with its management API."""
    from app.monitor import brokers

    if request.param == "redis":
        worker = request.getfixturevalue("celery_worker")
        yield BrokerEnv("redis", celery_app, brokers.from_url(redis_url), {}, worker.hostname)
        return
    rabbit = request.getfixturevalue("rabbitmq")
    host = request.getfixturevalue("amqp_worker")
    mgmt = rabbit.management_url if request.param == "amqp+management" else None
    broker = brokers.from_url(rabbit.amqp_url, mgmt)
    app = amqp_app(celery_app, rabbit.amqp_url)
    try:
        yield BrokerEnv(request.param, app, broker, {"CELERY_BROKER_URL": rabbit.amqp_url,
                                                     **({"RABBITMQ_MANAGEMENT_URL": mgmt} if mgmt else {})}, host)
    finally:
        broker.close()
        app.close()
