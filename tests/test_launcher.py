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
    password = (tmp_path / "secrets" / "redis_password").read_text().strip()
    assert p.redis_url == f"redis://:{password}@127.0.0.1:{port}/0"
    assert "valkey-server" in p.processes["redis"] or "redis-server" in p.processes["redis"]
    assert password not in p.processes["redis"] and all(password not in n for n in p.notes)
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


def test_supervisor_config_orders_stages_and_keeps_worker_pools_out_of_the_stop_signal(redis_url, tmp_path):
    import configparser

    from app.launcher import supervise

    p = processes.plan(Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path), explicit_redis=True)
    p.processes["monitor_events"] = "exec python -m app.monitor.events"  # a process added later
    text = supervise.render_config(p, tmp_path / "run", tmp_path / "logs", worker_stop_wait_s=42)
    conf = configparser.RawConfigParser()
    conf.read_string(text)
    prio = {name: int(conf[f"group:{name}"]["priority"]) for name in ("workers", "services", "front")}
    assert prio["workers"] < prio["services"] < prio["front"]  # front stops first, workers after
    assert set(conf["group:front"]["programs"].split(",")) == {"console", "beat"}
    assert "monitor_events" in conf["group:services"]["programs"].split(",")
    worker = conf["program:worker_email"]
    assert worker["stopwaitsecs"] == "42" and worker["stopasgroup"] == "false" and worker["killasgroup"] == "true"
    assert worker["autorestart"] == "true" and conf["program:console"]["stopasgroup"] == "true"
    assert worker["stdout_logfile"] == str(tmp_path / "logs" / "worker_email.log")


def test_supervisor_config_keeps_percent_signs_literal(redis_url, tmp_path):
    import configparser

    from app.launcher import supervise

    p = processes.plan(Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path), explicit_redis=True)
    p.processes = {"odd": "exec printf '%s' 100%"}
    conf = configparser.ConfigParser()  # supervisord interpolates like this
    conf.read_string(supervise.render_config(p, tmp_path, tmp_path, 5))
    assert conf["program:odd"]["command"] == "/bin/sh -c 'exec printf '\"'\"'%s'\"'\"' 100%'"


def test_procfile_parser_rejects_bad_lines():
    import pytest

    assert processes.parse_procfile("# c\n\na: x y\nb:  z\n") == {"a": "x y", "b": "z"}
    for bad in ("a x", "a: 1\na: 2"):
        with pytest.raises(ValueError):
            processes.parse_procfile(bad)


def test_await_redis_execs_the_command_once_redis_answers(redis_url):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "REDIS_URL": redis_url}
    out = subprocess.run([sys.executable, "-m", "app.launcher.await_redis", "echo", "started"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "started"
    dead = subprocess.run([sys.executable, "-m", "app.launcher.await_redis", "echo", "started"], cwd=ROOT,
                          env={**env, "REDIS_URL": "redis://127.0.0.1:1/0", "AWAIT_REDIS_S": "0.5"},
                          capture_output=True, text=True, timeout=30)
    assert dead.returncode == 1 and "did not answer" in dead.stderr and not dead.stdout


def test_processes_setting_runs_a_subset_and_rejects_unknown_names(redis_url, tmp_path):
    p = processes.plan(Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path, PROCESSES="worker_email, console"),
                       explicit_redis=True)
    assert set(p.processes) == {"worker_email", "console"} and not p.errors
    bad = processes.plan(Settings(REDIS_URL=redis_url, DATA_DIR=tmp_path, PROCESSES="worker_mail"), explicit_redis=True)
    assert bad.errors and "worker_mail" in bad.errors[0]


def test_embedded_redis_has_a_private_password_and_is_reused_only_when_it_is_ours(tmp_path, redis_url):
    import os
    import signal
    import stat
    import subprocess

    from app.launcher.redis_server import embedded_password, embedded_url, server_command

    port = redis_server.free_port()
    s = Settings(DATA_DIR=tmp_path, REDIS_EMBEDDED_PORT=port)
    p = processes.plan(s, explicit_redis=False)
    secret = tmp_path / "secrets" / "redis_password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "redis").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "redis" / "valkey.conf").stat().st_mode) == 0o600
    proc = subprocess.Popen(["/bin/sh", "-c", p.processes["redis"]], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        from tests.conftest import wait_for

        wait_for(lambda: redis_server.answers(p.redis_url), timeout_s=20)
        assert not redis_server.answers(f"redis://127.0.0.1:{port}/0")  # no password: refused
        again = processes.plan(s, explicit_redis=False)  # a second start reuses its own server
        assert not again.errors and "redis" not in again.processes and again.redis_url == p.redis_url
        other = processes.plan(Settings(DATA_DIR=tmp_path / "other", REDIS_EMBEDDED_PORT=port), explicit_redis=False)
        assert other.errors and "REDIS_EMBEDDED_PORT" in other.errors[0]  # not ours: refused, not reused
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    assert embedded_password(tmp_path) == secret.read_text().strip()  # stable across runs
    busy_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])  # the test session's Redis: not ours
    q = processes.plan(Settings(DATA_DIR=tmp_path, REDIS_EMBEDDED_PORT=busy_port), explicit_redis=False)
    assert q.errors and str(busy_port) in q.errors[0]
    assert embedded_url(1, "a/b") == "redis://:a%2Fb@127.0.0.1:1/0" and server_command
