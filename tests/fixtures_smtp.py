"""Real SMTP servers for the email tests (aiosmtpd), and pointing the console's settings at them.

- `smtp_server(**opts)` starts an aiosmtpd server on a free port (plain, STARTTLS-required, SMTPS,
  AUTH) whose handler records every accepted message and can be told to answer RCPT or DATA with
  given replies first (451 then accept, 550...).
- `tls_cert` is a self-signed certificate for 127.0.0.1 made with the openssl CLI for the session.
- `hung_port` is a listening socket that is never accepted: TCP connects, the SMTP greeting never comes.
- `mail_settings(**env)` sets SMTP_* (and any other) environment variables and clears the cached
  settings, so both the test and the in-process worker see them; restored afterwards. Retries are
  made fast (EMAIL_RETRY_COUNTDOWN_S=0.2) unless a test says otherwise.
"""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "console-user"
SMTP_PASSWORD = "s3cret-Pa55-not-for-logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class RecordingHandler:
    """Accepts and records messages; `rcpt_replies[address]` / `data_replies` are answered first."""

    def __init__(self):
        self.messages: list[Received] = []
        self.rcpt_replies: dict[str, list[str]] = {}
        self.data_replies: list[str] = []
        self.data_attempts = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.rcpt_replies.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_attempts += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode() \
        and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> tuple[Path, Path]:
    """(cert.pem, key.pem): self-signed, CN/SAN 127.0.0.1 + localhost, valid 2 days."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        pytest.fail("the openssl CLI is needed to make the test certificate (apt-get install openssl)")
    return cert, key


@pytest.fixture()
def smtp_server(tls_cert):
    """Factory: ``smtp_server(starttls=False, smtps=False, auth=False)`` → Controller with `.handler`, `.port`."""
    started: list[Controller] = []

    def _start(starttls: bool = False, smtps: bool = False, auth: bool = False) -> Controller:
        handler = RecordingHandler()
        context = None
        if starttls or smtps:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls_cert)
        kwargs = {}
        if starttls:
            kwargs.update(tls_context=context, require_starttls=True)
        if smtps:
            kwargs.update(ssl_context=context, server_hostname="127.0.0.1")
        if auth:
            kwargs.update(authenticator=_authenticator, auth_required=True, auth_require_tls=True)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controller.port = port
        started.append(controller)
        return controller

    yield _start
    for controller in started:
        controller.stop()


@pytest.fixture()
def hung_port():
    """A port that accepts TCP connections (kernel backlog) but never says anything."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture()
def mail_settings():
    """Factory: ``mail_settings(SMTP_HOST=..., SMTP_PORT=...)`` sets env vars and reloads the settings."""
    from config.settings import get_settings

    saved: dict[str, str | None] = {}

    def _set(**env) -> None:
        env = {"EMAIL_RETRY_COUNTDOWN_S": "0.2", "EMAIL_FROM": "console@example.com", **env}
        for key, value in env.items():
            saved.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = str(value)
        get_settings.cache_clear()

    yield _set
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
