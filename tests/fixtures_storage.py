"""S3-compatible storage for the tests: moto in server mode (a real HTTP server on a free port),
started once per session the first time a test asks for it; boto3 talks to it over HTTP."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

import pytest

from tests.fixtures_brokers import stop_process

S3_BUCKET = "console-files"


@dataclass
class S3Endpoint:
    endpoint_url: str
    bucket: str
    host: str
    port: int

    def settings_env(self, endpoint_url: str | None = None) -> dict[str, str]:
        """The settings a console or worker needs for FILE_STORE=s3 on this server."""
        return {"FILE_STORE": "s3", "S3_BUCKET": self.bucket, "S3_ENDPOINT_URL": endpoint_url or self.endpoint_url,
                "S3_REGION": "us-east-1", "S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing",
                "S3_PREFIX": "console"}

    def store(self):
        from app.files.filestore.s3 import S3Store

        return S3Store(self.bucket, "console", self.endpoint_url, "us-east-1", "testing", "testing")


def start_moto(host: str, port: int) -> subprocess.Popen:
    """`moto_server` on host:port in its own process group; returns once it answers HTTP."""
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://{host}:{port}/moto-api/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    stop_process(proc)
    raise RuntimeError("moto_server did not answer within 60 s")


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server (moto) with the bucket `S3_BUCKET` created."""
    from app.launcher.redis_server import free_port

    port = free_port()
    proc = start_moto("127.0.0.1", port)
    endpoint = S3Endpoint(f"http://127.0.0.1:{port}", S3_BUCKET, "127.0.0.1", port)
    endpoint.store().client.create_bucket(Bucket=S3_BUCKET)
    try:
        yield endpoint
    finally:
        stop_process(proc, timeout_s=5)
