"""The HTTP API served for real: uvicorn in a thread of the test process on a free port, reading the
session's Redis through this process's runtime; and people (accounts) with tokens."""
from __future__ import annotations

import threading
import time
import uuid

import pytest


@pytest.fixture(scope="session")
def api_url():
    """Base URL of the API (``http://127.0.0.1:<port>``), served for the whole session."""
    import uvicorn

    from app.api.server import build_app
    from app.launcher import redis_server

    port = redis_server.free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="warning",
                                           proxy_headers=False))
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the API server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture()
def person(redis_client):
    """``make(role, password=None) -> (name, token)``: an account of `role` with a fresh API token;
    every account made is removed afterwards."""
    from app.access import accounts, api_tokens, identity
    from config.settings import get_settings

    admin = identity.system("tests")
    made: list[str] = []

    def make(role: str, password: str = "correct horse battery") -> tuple[str, str]:
        name = f"{role}-{uuid.uuid4().hex[:6]}"
        accounts.add(redis_client, admin, name, role, password)
        made.append(name)
        token, _ = api_tokens.issue(redis_client, get_settings(), admin, name)
        return name, token

    yield make
    for name in made:
        if accounts.get(redis_client, name):
            accounts.remove(redis_client, admin, name)
        if api_tokens.list_tokens(redis_client, name):
            api_tokens.revoke(redis_client, admin, name)
