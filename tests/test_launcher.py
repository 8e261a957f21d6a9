"""`python -m app`'s plan: which Redis it uses and which processes it runs."""
from __future__ import annotations

from app.launcher import processes, redis_server
from config.settings import Settings


def test_uses_redis_url_when_it_answers(redis_url, tmp_path):
    p = processes.plan(Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path), explicit_redis=True)
    assert p.redis_url == redis_url
    assert "redis" not in p.processes
    assert p.env["REDIS_URL"] == redis_url
    assert {"beat", "console", "worker_files", "worker_default"} <= set(p.processes)


def test_falls_back_to_embedded_server_when_redis_url_is_dead(tmp_path):
    port = redis_server.free_port()
    s = Settings(REDIS_URL="redis://127.0.0.1:1/0", DATA_DIR=tmp_path, REDIS_EMBEDDED_PORT=port)
    p = processes.plan(s, explicit_redis=True)
    assert p.redis_url == f"redis://127.0.0.1:{port}/0"
    assert "valkey-server" in p.processes["redis"] or "redis-server" in p.processes["redis"]
    assert str(tmp_path / "redis") in p.processes["redis"]
    assert any("did not answer" in n for n in p.notes)


def test_unset_redis_url_means_embedded_even_if_default_port_answers(tmp_path):
    port = redis_server.free_port()
    p = processes.plan(Settings(DATA_DIR=tmp_path, REDIS_EMBEDDED_PORT=port), explicit_redis=False)
    assert p.redis_url.endswith(f":{port}/0") and "redis" in p.processes


def test_port_clashes_are_caught_before_anything_starts(redis_url, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = processes.plan(Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path, PORT=port), explicit_redis=True)
        assert p.errors and str(port) in p.errors[0]
        q = processes.plan(Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path, METRICS_PORT=port,
                                    SMTP_SINK_PORT=port), explicit_redis=True)
        assert not q.errors
        assert "metrics" not in q.processes and "smtp_sink" not in q.processes
        assert any("METRICS_PORT" in n for n in q.notes) and any("SMTP_SINK_PORT" in n for n in q.notes)
