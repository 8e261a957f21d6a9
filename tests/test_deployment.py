"""docker-compose.yml, Procfile and celery_worker.sh refer to real modules, queues and files.

No Docker engine runs here, so the compose file is checked by parsing it.
"""
from __future__ import annotations

import importlib
import subprocess

import yaml

from app.launcher.processes import parse_procfile
from config.celery_settings import QUEUES
from tests.conftest import ROOT

GROUP_QUEUES = {"email": {"email_queue"}, "files": {"file_processing_queue"}, "ai": {"ai_queue"},
                "reports": {"reports_queue"}, "default": {"default_queue"}}


def _check_command(argv: list[str]) -> None:
    if argv[0] == "./celery_worker.sh":
        assert (ROOT / "celery_worker.sh").exists()
        assert argv[1] in GROUP_QUEUES
    elif argv[0] == "celery":
        assert argv[1] == "-A"
        importlib.import_module(argv[2])
        assert argv[3] in {"worker", "beat", "flower"}
        if argv[3] == "beat":
            scheduler = argv[argv.index("-S") + 1]
            module, _, cls = scheduler.rpartition(".")
            assert hasattr(importlib.import_module(module), cls)
        if argv[3] == "flower":
            importlib.import_module("flower")
    elif argv[:2] == ["python", "-m"]:
        assert hasattr(importlib.import_module(argv[2]), "main")
    elif argv[0] == "streamlit":
        assert argv[1] == "run" and (ROOT / argv[2]).exists()
    else:
        raise AssertionError(f"unexpected command {argv}")


def test_compose_services_use_real_modules():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"redis", "beat", "flower", "console"} <= set(services)
    workers = [n for n in services if n.startswith("worker_")]
    covered = set()
    for name, svc in services.items():
        if svc.get("image") != "celery-console:latest":  # redis, minio, rabbitmq: stock images
            continue
        _check_command(svc["command"])
        assert svc["environment"]["REDIS_URL"].startswith("redis://redis:")
        if name in workers:
            covered |= GROUP_QUEUES[svc["command"][1]]
    assert covered == set(QUEUES)
    assert sum(1 for s in services.values() if "beat" in s.get("command", [])) == 1
    assert (ROOT / "Dockerfile").exists()


def test_procfile_covers_every_queue_and_one_beat():
    procs = parse_procfile((ROOT / "Procfile").read_text())
    groups = [cmd.split("celery_worker.sh")[1].split()[0] for cmd in procs.values() if "celery_worker.sh" in cmd]
    assert set().union(*(GROUP_QUEUES[g] for g in groups)) == set(QUEUES)
    assert sum(" beat " in cmd for cmd in procs.values()) == 1
    assert any("streamlit run streamlit_app.py" in cmd for cmd in procs.values())


def test_worker_script_rejects_unknown_group():
    out = subprocess.run(["bash", str(ROOT / "celery_worker.sh"), "nope"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown queue group" in out.stderr


def test_compose_requires_sign_in_and_keeps_flower_and_metrics_closed():
    text = (ROOT / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    console = services["console"]
    assert console["environment"]["CONSOLE_AUTH"].startswith("${CONSOLE_AUTH:?")  # compose stops without it
    assert console["environment"]["CONSOLE_ADDRESS"] == "0.0.0.0"
    assert any(a.startswith("--basic-auth=${FLOWER_BASIC_AUTH:?") for a in services["flower"]["command"])
    assert all(p.startswith("127.0.0.1:") for p in services["flower"]["ports"])
    assert "ports" not in services["metrics"] and "ports" not in services["redis"]


def test_dockerignore_keeps_secrets_and_local_data_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", "var/", ".venv/", ".git/"} <= ignored


def test_compose_workers_share_no_disk_and_rabbitmq_is_a_profile():
    """Workers mount no volume and reach uploads through the S3 service; RabbitMQ is opt-in."""
    import re

    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    app_services = {n: s for n, s in services.items() if s.get("image") == "celery-console:latest"}
    workers = {n: s for n, s in app_services.items() if n.startswith("worker_")}
    assert set(workers) == {f"worker_{g}" for g in GROUP_QUEUES}
    for name, svc in app_services.items():
        env = svc["environment"]
        assert "volumes" not in svc, f"{name} mounts a volume"
        assert env["FILE_STORE"] == "s3" and env["S3_BUCKET"]
        assert env["S3_ENDPOINT_URL"].split("//")[1].split(":")[0] in services  # a service of this file
        broker_default = re.fullmatch(r"\$\{CELERY_BROKER_URL:-(.+)\}", env["CELERY_BROKER_URL"]).group(1)
        assert broker_default.startswith("redis://redis:")
        assert svc["depends_on"]["rabbitmq"]["required"] is False
    assert services["rabbitmq"]["profiles"] == ["rabbitmq"]
    assert "mc mb" in " ".join(services["minio-init"]["entrypoint"])
    beats = [n for n, s in app_services.items() if s["command"][:4] == ["celery", "-A", "config.celery_config", "beat"]]
    assert beats == ["beat"]


def test_worker_check_reports_unreachable_services(tmp_path):
    """`celery_worker.sh check` on a host whose broker and Redis do not answer: exit 1, one line each."""
    from app.launcher.redis_server import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "REDIS_URL": dead, "DATA_DIR": str(tmp_path),
           "CELERY_BROKER_URL": f"amqp://u:secret@127.0.0.1:{free_port()}//"}
    out = subprocess.run(["bash", str(ROOT / "celery_worker.sh"), "check"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = {line.split()[1]: line.split()[0] for line in out.stdout.splitlines()}
    assert lines["broker"] == "FAIL" and lines["redis"] == "FAIL" and lines["file"] == "ok"
    assert "secret" not in out.stdout and "u:***@" in out.stdout
