"""A worker on another host: its own network namespace, working directory and DATA_DIR.

The test makes a network namespace and a veth pair (``ip netns``, root), with a /30 whose two
addresses exist only on the interfaces it made: the services (RabbitMQ as broker, Redis for results
and the console's store, an S3 server) listen on this side's address, the worker runs inside the
namespace and reaches them by that address, since its loopback is its own. The worker is started by
celery_worker.sh with only the settings a worker host needs. The console side here uploads a .docx to S3, sends the task to a routed queue over RabbitMQ, gets the result and sees the
worker and the task in the monitor.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from app.launcher import redis_server
from tests.conftest import ROOT, wait_for
from tests.fixtures_brokers import amqp_app, stop_process
from tests.fixtures_storage import S3Endpoint, start_moto

WORD = "app.tasks.file_tasks.process_word_document"
DOCX = "google-docs_no_docprops.docx"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture()
def worker_netns():
    """(namespace name, address on this side, address inside); removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("a network namespace needs root and iproute2 (ip)")
    taken = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    while True:
        net = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
        if f" {net}." not in taken:
            break
    tag = uuid.uuid4().hex[:6]
    ns, host_if, ns_if = f"cc15{tag}", f"vh{tag}", f"vn{tag}"
    here, inside = f"{net}.1", f"{net}.2"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{here}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{inside}/30", "dev", ns_if)
        _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, here, inside
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def test_worker_in_another_network_namespace_processes_an_upload(celery_app, worker_netns, rabbitmq, corpus,
                                                                 tmp_path):
    from app.monitor import brokers, workers
    from app.store import history
    from app.store.clients import redis_from_url

    ns, here, _inside = worker_netns
    procs = []
    try:
        rport, sport = redis_server.free_port(), redis_server.free_port()
        cmd = redis_server.server_command(rport, tmp_path / "redis", persist=False)
        cmd[cmd.index("--bind") + 1] = here  # only on the veth address
        procs.append(subprocess.Popen(cmd + ["--protected-mode", "no"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        redis_url = f"redis://{here}:{rport}/0"
        wait_for(lambda: redis_server.answers(redis_url), timeout_s=20)
        procs.append(start_moto(here, sport))
        s3 = S3Endpoint(f"http://{here}:{sport}", "remote-files", here, sport)
        store = s3.store()
        store.client.create_bucket(Bucket=s3.bucket)
        if os.environ.get("RABBITMQ_URL"):  # an outside node: keep its address
            broker_url = rabbitmq.amqp_url
        else:  # the session's node listens on every local address; reach it by the veth one
            broker_url = rabbitmq.amqp_url.replace("@127.0.0.1:", f"@{here}:")

        queue = f"far_{uuid.uuid4().hex[:6]}"
        worker_data = tmp_path / "worker-data"
        # Only the settings a worker host needs (celery_worker.sh's header), nothing inherited.
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "CELERY_BROKER_URL": broker_url, "REDIS_URL": redis_url,
               "DATA_DIR": str(worker_data), "WORKER_QUEUES": queue, "FILES_CONCURRENCY": "1",
               "WORKER_HEARTBEAT_S": "1", **s3.settings_env()}
        netns = ["ip", "netns", "exec", ns]
        check = subprocess.run([*netns, str(ROOT / "celery_worker.sh"), "check"], env=env, capture_output=True,
                               text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"amqp at amqp://guest:***@{here}:" in check.stdout or os.environ.get("RABBITMQ_URL")
        log = open(tmp_path / "worker.log", "wb")
        procs.append(subprocess.Popen([*netns, str(ROOT / "celery_worker.sh"), "files", "--loglevel", "WARNING"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

        app = amqp_app(celery_app, broker_url)
        app.conf.result_backend = redis_url
        url = store.save_upload(DOCX, (corpus / "docx" / DOCX).read_bytes(), 50_000_000).path
        r = app.send_task(WORD, args=[url, ["extract_text", "count_stats"]], queue=queue)
        result = r.get(timeout=120)
        assert result["outputs"]["stats"]["words"] == 305
        assert result["outputs"]["text_file"].startswith(f"s3://{s3.bucket}/console/outputs/{r.id}/")
        assert store.exists(result["outputs"]["text_file"])
        assert not any((worker_data / "uploads").rglob("*")) if (worker_data / "uploads").exists() else True

        client = redis_from_url(redis_url)
        try:  # the monitor sees the remote worker and the task it ran
            task = wait_for(lambda: (t := history.get_task(client, r.id)) and t["state"] == "SUCCESS" and t)
            assert task["worker"].startswith("files.") and task["queue"] == queue
            ws = workers.list_workers(client)
            assert queue in workers.consumers_by_queue([w for w in ws if w.online])
        finally:
            client.close()
        broker = brokers.from_url(broker_url)
        try:
            assert broker.details([queue], {})[0].broker_consumers == 1
        finally:
            broker.close()
        app.close()
        log = Path(tmp_path / "worker.log").read_text(errors="replace")
        assert "Traceback" not in log, log[-2000:]
    finally:
        for proc in reversed(procs):
            stop_process(proc, timeout_s=15)
