"""The dev mail sink as `make run` starts it (`python -m app.mail.sink`), and its Outbox reader."""
from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage

import pytest

from app.errors import InvalidInput
from app.mail import outbox
from tests.conftest import ROOT, wait_for
from tests.fixtures_smtp import free_port


@pytest.fixture()
def sink_process(tmp_path):
    port = free_port()
    env = {**os.environ, "SMTP_SINK_PORT": str(port), "DATA_DIR": str(tmp_path)}
    env.pop("SMTP_HOST", None)
    proc = subprocess.Popen([sys.executable, "-m", "app.mail.sink"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert f"127.0.0.1:{port}" in line, line
    yield port, tmp_path / "outbox", proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_sink_module_stores_every_message_and_stops_on_sigterm(sink_process):
    port, folder, proc = sink_process
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "console@example.com", "ann@example.com", "Sink test ✓"
    msg.set_content("line one\nline two")
    msg.add_alternative("<p>html</p>", subtype="html")
    msg.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="blob.bin")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as conn:
        conn.send_message(msg, to_addrs=["ann@example.com", "hidden@example.com"])
    entries = wait_for(lambda: outbox.list_messages(folder))
    assert len(entries) == 1 and outbox.count(folder) == 1
    e = entries[0]
    assert e.subject == "Sink test ✓" and e.mail_from == "console@example.com"
    assert e.rcpt_tos == ["ann@example.com", "hidden@example.com"]
    assert e.size_bytes == (folder / f"{e.name}.eml").stat().st_size
    opened = outbox.read_message(folder, e.name)
    assert opened.text.rstrip("\n") == "line one\nline two" and opened.html.strip() == "<p>html</p>"
    assert [(a.filename, a.data) for a in opened.attachments] == [("blob.bin", b"\x00\x01binary")]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_outbox_refuses_names_that_are_not_message_ids(tmp_path):
    (tmp_path / "secret.eml").write_text("x")
    for name in ("../secret", "secret", "", "1795257492863799808-dbe0cac5/../../x"):
        with pytest.raises(InvalidInput):
            outbox.read_message(tmp_path, name)
    assert outbox.list_messages(tmp_path) == []  # only sink-named files are listed
    assert outbox.list_messages(tmp_path / "missing") == []
